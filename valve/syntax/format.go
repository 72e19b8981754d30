package syntax

import (
	"bytes"

	"gopkg.in/yaml.v3"
)

// Format writes f back as YAML in a canonical layout: topics, patterns and
// actions in the order f holds them, every pattern and expression double
// quoted. Parse(Format(f)) gives the same rules as f; positions differ.
func Format(f *File) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, t := range f.Topics {
		rules := &yaml.Node{Kind: yaml.MappingNode}
		for _, r := range t.Rules {
			acts := &yaml.Node{Kind: yaml.MappingNode}
			for _, a := range r.Actions {
				val := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
				if a.Value.IsExpr {
					val = str(a.Value.Expr)
				} else if a.Value.Bool {
					val.Value = "true"
				}
				acts.Content = append(acts.Content, plain(a.Name), val)
			}
			rules.Content = append(rules.Content, str(r.Pattern.Text), acts)
		}
		root.Content = append(root.Content, plain(t.Name), rules)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func plain(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}
