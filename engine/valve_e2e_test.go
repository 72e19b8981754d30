package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

const rulesV1 = `
record:
  "*": { read: true, write: true, create: true, delete: true, listen: true }
  "auction/item/$sellerId/$itemId":
    read: true
    write: "user.data.canBid == true && data.price > (oldData.price ?? 0)"
    delete: "user.id == $sellerId"
  "profile/$userId": { write: "user.id == $userId && _('settings/' + $userId).editable == true" }
event:
  "*": { publish: true, subscribe: true, listen: true }
  "private/*": { subscribe: "user.id == 'admin'" }
rpc: { "*": { provide: true, request: true } }
presence: { "*": { allow: true } }
`

func permissionServer(t *testing.T) (*engine.Server, string) {
	t.Helper()
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := "users:\n" +
		"  ann: {password: \"" + string(hash) + "\", serverData: {canBid: true}}\n" +
		"  bob: {password: \"" + string(hash) + "\"}\n" +
		"  sam: {password: \"" + string(hash) + "\"}\n"
	must(t, os.WriteFile(filepath.Join(dir, "users.yml"), []byte(users), 0o600))
	rules := filepath.Join(dir, "permissions.yml")
	must(t, os.WriteFile(rules, []byte(rulesV1), 0o600))
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.Auth.Strategies = []auth.StrategyConfig{{Type: "file", File: auth.FileConfig{Path: filepath.Join(dir, "users.yml")}}}
		o.Valve.Path = rules
		o.Valve.ReloadInterval = 20 * time.Millisecond
	})
	return srv, rules
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func as(t *testing.T, srv *engine.Server, user string) *enginetest.Client {
	t.Helper()
	c := enginetest.DialTCP(t, srv.TCPAddr())
	c.Handshake()
	c.Login(`{"username":"` + user + `","password":"pw"}`)
	return c
}

func expectDenied(t *testing.T, c *enginetest.Client, topic fb.Topic, want string) {
	t.Helper()
	v := c.Expect(topic, fb.ActionError)
	if protocol.Code(v.Code()) != protocol.CodePermissionDenied {
		t.Fatalf("want PermissionDenied, got %v: %s", protocol.Code(v.Code()), v.Reason())
	}
	if !strings.Contains(string(v.Reason()), want) {
		t.Fatalf("reason %q does not name %q", v.Reason(), want)
	}
}

func TestPermissionsOverTheWire(t *testing.T) {
	srv, rules := permissionServer(t)
	ann, bob, sam := as(t, srv, "ann"), as(t, srv, "bob"), as(t, srv, "sam")

	t.Run("event subscribe by user", func(t *testing.T) {
		bob.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 1, Name: "private/x"})
		expectDenied(t, bob, fb.TopicEvent, `event subscribe "private/x"`)
		bob.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Name: "public/x"})
		bob.Expect(fb.TopicEvent, fb.ActionAck)
	})

	t.Run("record write with data and oldData", func(t *testing.T) {
		item := "auction/item/sam/lamp"
		for _, c := range []*enginetest.Client{ann, bob, sam} {
			c.Send(rec(fb.ActionRead, 1, item))
			c.Expect(fb.TopicRecord, fb.ActionReadResult)
		}
		sam.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, ID: 2, Name: item, Version: 1, Data: []byte(`{"price":10}`)})
		expectDenied(t, sam, fb.TopicRecord, `record write "`+item+`"`) // sam cannot bid
		ann.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 3, Name: item, Version: 1, Path: "price", Data: []byte(`10`), Flags: fb.FlagsWantAck})
		ann.Expect(fb.TopicRecord, fb.ActionWriteAck)
		bob.Expect(fb.TopicRecord, fb.ActionPatch)
		// Lowering the price is refused: the rule sees the whole new document.
		ann.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 4, Name: item, Version: 2, Path: "price", Data: []byte(`5`)})
		expectDenied(t, ann, fb.TopicRecord, item)
		// Nothing was applied or forwarded: the next accepted write is version 2.
		ann.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 5, Name: item, Version: 2, Path: "price", Data: []byte(`12`), Flags: fb.FlagsWantAck})
		if v := ann.Expect(fb.TopicRecord, fb.ActionWriteAck); v.Version() != 2 {
			t.Fatalf("version %d", v.Version())
		}
		if v := bob.Expect(fb.TopicRecord, fb.ActionPatch); v.Version() != 2 || string(v.DataBytes()) != "12" {
			t.Fatalf("bob saw v%d %s", v.Version(), v.DataBytes())
		}
		sam.Expect(fb.TopicRecord, fb.ActionPatch)
		sam.Expect(fb.TopicRecord, fb.ActionPatch)
		// Only the seller may delete.
		ann.Send(rec(fb.ActionDelete, 6, item))
		expectDenied(t, ann, fb.TopicRecord, `record delete "`+item+`"`)
		sam.Send(rec(fb.ActionDelete, 7, item))
		sam.Expect(fb.TopicRecord, fb.ActionAck)
		ann.Expect(fb.TopicRecord, fb.ActionDeleted)
		bob.Expect(fb.TopicRecord, fb.ActionDeleted)
	})

	t.Run("cross-record read", func(t *testing.T) {
		ann.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, ID: 8, Name: "settings/ann", Data: []byte(`{"editable":true}`), Flags: fb.FlagsForced | fb.FlagsWantAck})
		ann.Expect(fb.TopicRecord, fb.ActionWriteAck)
		ann.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 9, Name: "profile/ann", Path: "bio", Data: []byte(`"hi"`), Flags: fb.FlagsForced | fb.FlagsWantAck})
		ann.Expect(fb.TopicRecord, fb.ActionWriteAck)
		bob.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 10, Name: "profile/ann", Path: "bio", Data: []byte(`"x"`), Flags: fb.FlagsForced})
		expectDenied(t, bob, fb.TopicRecord, "profile/ann")
		ann.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, ID: 11, Name: "settings/ann", Data: []byte(`{"editable":false}`), Flags: fb.FlagsForced | fb.FlagsWantAck})
		ann.Expect(fb.TopicRecord, fb.ActionWriteAck)
		ann.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 12, Name: "profile/ann", Path: "bio", Data: []byte(`"again"`), Flags: fb.FlagsForced})
		expectDenied(t, ann, fb.TopicRecord, "profile/ann")
	})

	t.Run("hot reload", func(t *testing.T) {
		// Publishing is allowed, then a new file forbids it.
		ann.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, ID: 13, Name: "news", Data: []byte(`1`)})
		ann.Expect(fb.TopicEvent, fb.ActionAck)
		v2 := strings.Replace(rulesV1, `"*": { publish: true, subscribe: true, listen: true }`, `"*": { publish: false, subscribe: true, listen: true }`, 1)
		must(t, os.WriteFile(rules+".new", []byte(v2), 0o600))
		must(t, os.Rename(rules+".new", rules))
		waitFor(t, func() bool {
			ann.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, ID: 14, Name: "news", Data: []byte(`1`)})
			v, err := ann.Next()
			return err == nil && v.Action() == fb.ActionError && protocol.Code(v.Code()) == protocol.CodePermissionDenied
		})
		// A broken file is refused and the rules in force stay.
		must(t, os.WriteFile(rules+".new", []byte("event: {\"*\": {publish: [broken"), 0o600))
		must(t, os.Rename(rules+".new", rules))
		time.Sleep(150 * time.Millisecond)
		ann.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, ID: 15, Name: "news", Data: []byte(`1`)})
		expectDenied(t, ann, fb.TopicEvent, `event publish "news"`)
		ann.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 16, Name: "news"})
		ann.Expect(fb.TopicEvent, fb.ActionAck)
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A listener is told only of names its listen rule allows, whatever its
// pattern's text: ".*" with admin/* denied never hears of admin names.
func TestValveListenChecksEveryName(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yml")
	must(t, os.WriteFile(rules, []byte(`
event:
  "*": { publish: true, subscribe: true, listen: true }
  "admin/*": { publish: true, subscribe: true, listen: false }
`), 0o600))
	srv := enginetest.Start(t, func(o *engine.Options) { o.Valve.Path = rules })
	prov := userOn(t, srv, transports["tcp"], "prov")
	listenTo(t, prov, ".*")
	sub := userOn(t, srv, transports["ws"], "sub")
	subscribeEvent(t, sub, "admin/launch-codes")
	subscribeEvent(t, sub, "public/news")
	expectListen(t, prov, fb.ActionSubscriptionFound, "public/news", ".*")
	quiet(t, prov)
}
