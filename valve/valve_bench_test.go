package valve

import "testing"

const benchRules = `record:
  "*": { read: true }
  "profile/$userId": { write: "user.id == $userId" }
  "auction/item/$sellerId/$itemId":
    write: "user.data.canBid && data.price > oldData.price"
  "items/$id": { write: "data.price > oldData.price" }
  "notes/*": { write: "_('settings/' + user.id).editable" }
`

type benchReader struct{}

func (benchReader) ReadRecord(string) ([]byte, bool, error) {
	return []byte(`{"editable": true}`), true, nil
}

// BenchmarkCheck measures one allowed Check per operation.
func BenchmarkCheck(b *testing.B) {
	r := mustParse(b, benchRules)
	user := &User{ID: "ann", Authenticated: true, Data: []byte(`{"canBid": true}`)}
	data := []byte(`{"price": 12, "title": "lamp", "seller": "sam"}`)
	old := []byte(`{"price": 10, "title": "lamp", "seller": "sam"}`)
	cases := []struct {
		name string
		req  Request
	}{
		{"true", Request{Topic: "record", Action: "read", Name: "some/record/name", User: user}},
		{"user.id==$userId", Request{Topic: "record", Action: "write", Name: "profile/ann", User: user}},
		{"data.price>oldData.price", Request{Topic: "record", Action: "write", Name: "items/7", User: user, Data: data, OldData: old}},
		{"canBid&&data.price>oldData.price", Request{Topic: "record", Action: "write", Name: "auction/item/sam/lamp", User: user, Data: data, OldData: old}},
		{"record-read", Request{Topic: "record", Action: "write", Name: "notes/1", User: user}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := c.req
			if d := r.Check(&req, benchReader{}); !d.Allow {
				b.Fatal(d.Reason)
			}
			b.ReportAllocs()
			for b.Loop() {
				if !r.Check(&req, benchReader{}).Allow {
					b.Fatal("denied")
				}
			}
		})
	}
}

// BenchmarkCheckDenied measures a denial, which builds its reason.
func BenchmarkCheckDenied(b *testing.B) {
	r := mustParse(b, benchRules)
	req := Request{Topic: "record", Action: "write", Name: "profile/bob", User: &User{ID: "ann"}}
	b.ReportAllocs()
	for b.Loop() {
		if r.Check(&req, nil).Allow {
			b.Fatal("allowed")
		}
	}
}

// BenchmarkNeeds measures the lookup the server makes before a check.
func BenchmarkNeeds(b *testing.B) {
	r := mustParse(b, benchRules)
	b.ReportAllocs()
	for b.Loop() {
		if !r.Needs("record", "write", "items/7").Data {
			b.Fatal("needs")
		}
	}
}
