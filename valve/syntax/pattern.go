package syntax

import "strings"

// MaxCaptures is the largest number of $name captures one pattern may have.
const MaxCaptures = 16

// PartKind tells what a pattern part matches.
type PartKind uint8

const (
	// Literal matches its Text exactly.
	Literal PartKind = iota
	// Star matches any run of characters, '/' included, possibly empty.
	Star
	// Capture matches one whole non-empty segment (no '/') and records it
	// under Name.
	Capture
)

// Part is one piece of a pattern.
type Part struct {
	Kind PartKind
	Text string // Literal: the text; Capture: the name without '$'
}

// Pattern is a parsed name pattern.
type Pattern struct {
	Text     string
	Parts    []Part
	Captures []string // capture names in order, without '$'
	// Literals counts the bytes matched literally; it breaks ties between
	// patterns of the same length.
	Literals int
}

// PatternError is a problem with a pattern; Msg says what.
type PatternError struct{ Msg string }

func (e *PatternError) Error() string { return "valve: bad pattern: " + e.Msg }

func isNameStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isNameByte(c byte) bool { return isNameStart(c) || ('0' <= c && c <= '9') }

// ParsePattern parses a name pattern:
//
//   - '*' matches any run of characters, '/' included;
//   - '$name' (name: a letter or '_' then letters, digits, '_') matches one
//     whole non-empty segment between slashes, so it must stand between the
//     start or a '/' and the end or a '/';
//   - every other character matches itself.
func ParsePattern(s string) (Pattern, *PatternError) {
	p := Pattern{Text: s}
	if s == "" {
		return p, &PatternError{"empty pattern"}
	}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.Parts = append(p.Parts, Part{Kind: Literal, Text: lit.String()})
			p.Literals += lit.Len()
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case '*':
			flush()
			if n := len(p.Parts); n == 0 || p.Parts[n-1].Kind != Star {
				p.Parts = append(p.Parts, Part{Kind: Star})
			}
			i++
		case '$':
			j := i + 1
			if j >= len(s) || !isNameStart(s[j]) {
				return p, &PatternError{"'$' must start a variable name such as $id"}
			}
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			name := s[i+1 : j]
			if i > 0 && s[i-1] != '/' {
				return p, &PatternError{"$" + name + " must fill a whole segment: put it after '/' or at the start"}
			}
			if j < len(s) && s[j] != '/' {
				return p, &PatternError{"$" + name + " must fill a whole segment: follow it with '/' or end the pattern"}
			}
			for _, c := range p.Captures {
				if c == name {
					return p, &PatternError{"$" + name + " appears twice"}
				}
			}
			if len(p.Captures) == MaxCaptures {
				return p, &PatternError{"more than 16 variables"}
			}
			flush()
			p.Parts = append(p.Parts, Part{Kind: Capture, Text: name})
			p.Captures = append(p.Captures, name)
			i = j
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return p, nil
}
