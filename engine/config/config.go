// Package config turns a YAML file, environment variables and flags into
// engine.Options, and prints the effective configuration back as YAML that
// Load accepts.
//
// Precedence, lowest first: embedded defaults, the YAML file, environment
// variables, command-line overrides. Every setting has an environment
// variable named EDDY_ plus its YAML path in upper snake case, e.g.
// net.tcpAddr -> EDDY_NET_TCP_ADDR, session.heartbeat -> EDDY_SESSION_HEARTBEAT.
//
// Functions here are pure apart from reading the named file and the
// environment passed in; they are safe from any goroutine.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/eddy-realtime/eddy/engine"
)

// Load reads path (empty: no file), applies env (os.Environ format; nil
// means none) and returns options with defaults filled and validated.
func Load(path string, env []string) (engine.Options, error) {
	var opts engine.Options
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return opts, fmt.Errorf("config: %w", err)
		}
		if err := Parse(raw, &opts); err != nil {
			return opts, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if err := ApplyEnv(&opts, env); err != nil {
		return opts, fmt.Errorf("config: %w", err)
	}
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return opts, fmt.Errorf("config: %w", err)
	}
	return opts, nil
}

// Parse decodes YAML into opts, rejecting unknown keys.
func Parse(raw []byte, opts *engine.Options) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(opts); err != nil && !errors.Is(err, io.EOF) { // an empty file means defaults
		return err
	}
	return nil
}

// Setting is one leaf of the configuration.
type Setting struct {
	Path string // YAML path, "net.tcpAddr"
	Env  string // EDDY_NET_TCP_ADDR
	Doc  string
	v    reflect.Value
}

// Settings lists every leaf of opts in YAML path order.
func Settings(opts *engine.Options) []Setting {
	var out []Setting
	walk(reflect.ValueOf(opts).Elem(), "", func(path string, v reflect.Value) {
		out = append(out, Setting{Path: path, Env: envName(path), v: v})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func walk(v reflect.Value, prefix string, fn func(string, reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		path := tag
		if prefix != "" {
			path = prefix + "." + tag
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)) {
			walk(fv, path, fn)
			continue
		}
		fn(path, fv)
	}
}

// envName maps "net.tcpAddr" to "EDDY_NET_TCP_ADDR".
func envName(path string) string {
	var b strings.Builder
	b.WriteString("EDDY")
	for _, part := range strings.Split(path, ".") {
		b.WriteByte('_')
		for i, r := range part {
			if unicode.IsUpper(r) && i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// ApplyEnv sets every option whose variable is present in env.
func ApplyEnv(opts *engine.Options, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "EDDY_") {
			vars[k] = v
		}
	}
	var errs []error
	for _, s := range Settings(opts) {
		if val, ok := vars[s.Env]; ok {
			if err := set(s.v, val); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Set assigns one setting by YAML path (for command-line overrides).
func Set(opts *engine.Options, path, value string) error {
	for _, s := range Settings(opts) {
		if s.Path == path {
			return set(s.v, value)
		}
	}
	return fmt.Errorf("config: unknown setting %q", path)
}

func set(v reflect.Value, s string) error {
	if v.Kind() == reflect.Pointer {
		nv := reflect.New(v.Type().Elem())
		if err := set(nv.Elem(), s); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	}
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case v.CanInt():
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Map:
		// Lists and maps (auth strategies) are given as YAML or JSON.
		nv := reflect.New(v.Type())
		if err := yaml.Unmarshal([]byte(s), nv.Interface()); err != nil {
			return err
		}
		v.Set(nv.Elem())
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot set a %s from the environment", v.Type())
	}
	return nil
}

// String prints opts as YAML that Parse reads back to the same options.
func String(opts engine.Options) string {
	out, err := yaml.Marshal(toMap(reflect.ValueOf(opts)))
	if err != nil {
		return "# " + err.Error()
	}
	return string(out)
}

// toMap renders durations as strings ("15s") so the output parses back.
func toMap(v reflect.Value) any {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		return toMap(v.Elem())
	}
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		return time.Duration(v.Int()).String()
	}
	if v.Kind() != reflect.Struct {
		return v.Interface()
	}
	m := yaml.Node{Kind: yaml.MappingNode}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		var val yaml.Node
		if err := val.Encode(toMap(v.Field(i))); err != nil {
			continue
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: tag}, &val)
	}
	return &m
}
