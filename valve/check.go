package valve

import (
	"strconv"
	"time"

	vexpr "github.com/eddy-realtime/eddy/valve/expr"
	"github.com/eddy-realtime/eddy/valve/syntax"
)

// Check decides req. rr serves _(name) reads and may be nil when no rule
// reads records (Needs tells). Check is safe for concurrent use and never
// panics; an allowed request allocates nothing unless the rule decodes JSON
// objects or reads records.
func (r *Rules) Check(req *Request, rr RecordReader) Decision {
	ti := syntax.TopicIndex(req.Topic)
	if ti < 0 {
		return deny(req, "", "unknown topic")
	}
	ai := syntax.ActionIndex(ti, req.Action)
	if ai < 0 {
		return deny(req, "", "unknown action for "+req.Topic)
	}
	var caps captures
	ru := r.find(ti, ai, req.Name, &caps)
	if ru == nil {
		return deny(req, "", "no rule matches")
	}
	if ru.constant {
		if ru.allow {
			return Decision{Allow: true}
		}
		return deny(req, ru.pattern, "the rule is false")
	}
	in := vexpr.Input{
		Name:     req.Name,
		Action:   req.Action,
		Now:      req.Now,
		Data:     req.Data,
		OldData:  req.OldData,
		MaxReads: r.maxReads,
	}
	uses := ru.prog.Uses()
	if u := req.User; u != nil {
		in.UserID = u.ID
		in.Authenticated = u.Authenticated
		if uses.UserData {
			in.UserData, in.UserDataErr = u.data()
		}
	}
	if uses.Now && in.Now == 0 {
		in.Now = time.Now().UnixMilli()
	}
	if uses.Records && rr != nil {
		in.Reader = rr
	}
	ok, err := ru.prog.Eval(&in, caps[:ru.ncap])
	if err != nil {
		return deny(req, ru.pattern, "error: "+err.Error())
	}
	if !ok {
		return deny(req, ru.pattern, "the expression is false")
	}
	return Decision{Allow: true}
}

// Needs reports which inputs the rule deciding (topic, action, name) reads.
// It is zero when no rule applies or the rule is constant.
func (r *Rules) Needs(topic, action, name string) Needs {
	ti := syntax.TopicIndex(topic)
	ai := syntax.ActionIndex(ti, action)
	if ai < 0 {
		return Needs{}
	}
	var caps captures
	if ru := r.find(ti, ai, name, &caps); ru != nil {
		return ru.needs
	}
	return Needs{}
}

// Rule returns the pattern of the rule deciding (topic, action, name) and
// where it is in the file; ok is false when no rule applies.
func (r *Rules) Rule(topic, action, name string) (pattern string, pos syntax.Pos, ok bool) {
	ti := syntax.TopicIndex(topic)
	ai := syntax.ActionIndex(ti, action)
	if ai < 0 {
		return "", syntax.Pos{}, false
	}
	var caps captures
	if ru := r.find(ti, ai, name, &caps); ru != nil {
		return ru.pattern, ru.pos, true
	}
	return "", syntax.Pos{}, false
}

// find returns the first rule, in precedence order, whose pattern matches.
func (r *Rules) find(ti, ai int, name string, caps *captures) *rule {
	for _, ru := range r.table[ti][ai] {
		if ru.match.match(name, caps) {
			return ru
		}
	}
	return nil
}

// deny builds a denial: `record write "a/b" denied by rule "a/*": why`.
func deny(req *Request, pattern, why string) Decision {
	b := make([]byte, 0, 48+len(req.Topic)+len(req.Action)+len(req.Name)+len(pattern)+len(why))
	b = append(b, req.Topic...)
	b = append(b, ' ')
	b = append(b, req.Action...)
	b = append(b, ' ')
	b = strconv.AppendQuote(b, req.Name)
	if pattern != "" {
		b = append(b, " denied by rule "...)
		b = strconv.AppendQuote(b, pattern)
	} else {
		b = append(b, " denied"...)
	}
	b = append(b, ": "...)
	b = append(b, why...)
	return Decision{Reason: string(b)}
}
