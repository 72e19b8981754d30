package msg

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/eddy-realtime/eddy/protocol/fb"
)

var rewrite = flag.Bool("rewrite", false, "regenerate protocol/testdata/golden.json")

// golden is one frame of protocol/testdata/golden.json: the encoded bytes
// and the fields they must decode to. The SDK test suites (Go and
// TypeScript) decode the same file, so the three cannot drift apart.
type golden struct {
	Name    string   `json:"name"`
	Hex     string   `json:"hex"`
	Topic   string   `json:"topic"`
	Action  string   `json:"action"`
	Flags   uint16   `json:"flags,omitempty"`
	ID      uint64   `json:"id,omitempty"`
	Msg     string   `json:"msgName,omitempty"`
	Path    string   `json:"path,omitempty"`
	Version int64    `json:"version,omitempty"`
	Data    string   `json:"data,omitempty"`
	Names   []string `json:"names,omitempty"`
	Code    uint16   `json:"code,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	User    string   `json:"user,omitempty"`
}

var goldenMsgs = []struct {
	name string
	m    Msg
}{
	{"handshake", Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: "eddy", Version: 1}},
	{"login", Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1, Data: []byte(`{"username":"ann"}`)}},
	{"login-result", Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: 1, User: "ann", Data: []byte(`{"theme":"dark"}`)}},
	{"event-subscribe-many", Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Names: []string{"news/sport", "news/tech"}}},
	{"event-emit", Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "news/sport", Data: []byte(`{"score":[2,1]}`)}},
	{"record-patch-ack", Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 3, Flags: fb.FlagsWantAck, Name: "driver/14", Path: "position.x", Version: 7, Data: []byte(`4244`)}},
	{"record-version-exists", Msg{Topic: fb.TopicRecord, Action: fb.ActionVersionExists, ID: 3, Name: "driver/14", Version: 9, Data: []byte(`{"x":1}`), Code: 41, Reason: "version already exists"}},
	{"error", Msg{Topic: fb.TopicEvent, Action: fb.ActionError, ID: 4, Name: "private/x", Code: 30, Reason: "permission denied"}},
	{"close", Msg{Topic: fb.TopicConnection, Action: fb.ActionClose, Code: 14, Reason: "the server is shutting down"}},
}

func TestGoldenFrames(t *testing.T) {
	path := filepath.Join("..", "..", "protocol", "testdata", "golden.json")
	if *rewrite {
		var out []golden
		for _, g := range goldenMsgs {
			m := g.m
			out = append(out, golden{Name: g.name, Hex: hex.EncodeToString(Append(nil, &m)),
				Topic: fb.EnumNamesTopic[m.Topic], Action: fb.EnumNamesAction[m.Action], Flags: uint16(m.Flags), ID: m.ID,
				Msg: m.Name, Path: m.Path, Version: m.Version, Data: string(m.Data), Names: m.Names, Code: m.Code, Reason: m.Reason, User: m.User})
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var frames []golden
	if err := json.Unmarshal(raw, &frames); err != nil {
		t.Fatal(err)
	}
	if len(frames) != len(goldenMsgs) {
		t.Fatalf("%d golden frames, %d messages: run with -rewrite", len(frames), len(goldenMsgs))
	}
	for _, g := range frames {
		b, err := hex.DecodeString(g.Hex)
		if err != nil {
			t.Fatal(err)
		}
		var v View
		if err := v.Reset(b); err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		var names []string
		for i := 0; i < v.NamesLength(); i++ {
			names = append(names, string(v.NamesAt(i)))
		}
		got := golden{Name: g.Name, Hex: g.Hex, Topic: fb.EnumNamesTopic[v.Topic()], Action: fb.EnumNamesAction[v.Action()],
			Flags: v.Flags(), ID: v.Id(), Msg: string(v.Name()), Path: string(v.Path()), Version: v.Version(),
			Data: string(v.DataBytes()), Names: names, Code: v.Code(), Reason: string(v.Reason()), User: string(v.User())}
		a, _ := json.Marshal(got)
		e, _ := json.Marshal(g)
		if string(a) != string(e) {
			t.Fatalf("%s decodes to\n%s\nwant\n%s", g.Name, a, e)
		}
	}
}
