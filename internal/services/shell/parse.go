package shell

import (
	"errors"
	"fmt"
	"strings"
)

// Parser limits. Input past them is rejected with a syntax error rather
// than parsed partly.
const (
	MaxLineBytes = 64 << 10
	maxWords     = 4096
)

// SegmentKind selects how one piece of a word is expanded.
type SegmentKind int

// Segment kinds.
const (
	SegBare    SegmentKind = iota // unquoted text: may be globbed
	SegLiteral                    // quoted or escaped text: taken as is
	SegVar                        // $NAME or ${NAME}; Text is the name
	SegSubst                      // $(...) or `...`; Text is the inner command line
)

// Segment is one piece of a word. Quoted reports whether a SegVar or SegSubst
// sat inside double quotes, where its value is not split into fields.
type Segment struct {
	Kind   SegmentKind
	Text   string
	Quoted bool
}

// Word is one shell word before expansion.
type Word []Segment

// Redirect is one redirection: Fd is the descriptor redirected, Op one of
// "<", ">", ">>" or ">&", and Target the file (or the descriptor for ">&").
type Redirect struct {
	Fd     int
	Op     string
	Target Word
}

// Assign is a NAME=value word in front of a command.
type Assign struct {
	Name  string
	Value Word
}

// Simple is one simple command with the source text it was parsed from.
type Simple struct {
	Assigns []Assign
	Words   []Word
	Redirs  []Redirect
	Text    string
}

// Pipeline is commands joined by "|".
type Pipeline []Simple

// AndOr is pipelines joined by "&&" and "||"; Ops[i] joins Pipelines[i]
// and Pipelines[i+1].
type AndOr struct {
	Pipelines []Pipeline
	Ops       []string
}

// Script is a parsed command line: lists separated by ";", "&" or newlines.
type Script []AndOr

// SyntaxError is a parse failure. Token is what bash would quote in its
// "syntax error near unexpected token" message; EOF marks an unterminated
// quote or substitution.
type SyntaxError struct {
	Token string
	EOF   bool
}

func (e *SyntaxError) Error() string {
	if e.EOF {
		return "syntax error: unexpected end of file"
	}
	return fmt.Sprintf("syntax error near unexpected token `%s'", e.Token)
}

var errTooLong = errors.New("command line too long")

// Parse parses one command line. It never executes anything and never
// panics on any input; bytes that are not valid UTF-8 pass through as is.
func Parse(line string) (Script, error) {
	if len(line) > MaxLineBytes {
		return nil, errTooLong
	}
	p := &parser{src: line}
	return p.script()
}

type parser struct {
	src   string
	pos   int
	words int
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) hasPrefix(s string) bool { return strings.HasPrefix(p.src[p.pos:], s) }

func (p *parser) skipBlanks() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.pos++
	}
	if p.peek() == '#' {
		for !p.eof() && p.peek() != '\n' {
			p.pos++
		}
	}
}

func (p *parser) skipBlanksAndNewlines() {
	for {
		p.skipBlanks()
		if p.peek() != '\n' {
			return
		}
		p.pos++
	}
}

// unexpected returns the syntax error for the token at the current position.
func (p *parser) unexpected() error {
	if p.eof() {
		return &SyntaxError{Token: "newline"}
	}
	for _, op := range []string{"&&", "||", ";;", ">>", ";", "&", "|", "(", ")", "<", ">"} {
		if p.hasPrefix(op) {
			return &SyntaxError{Token: op}
		}
	}
	if p.peek() == '\n' {
		return &SyntaxError{Token: "newline"}
	}
	return &SyntaxError{Token: p.src[p.pos : p.pos+1]}
}

func (p *parser) script() (Script, error) {
	var s Script
	for {
		p.skipBlanksAndNewlines()
		if p.eof() {
			return s, nil
		}
		ao, err := p.andOr()
		if err != nil {
			return nil, err
		}
		s = append(s, ao)

		p.skipBlanks()
		switch {
		case p.eof():
			return s, nil
		case p.hasPrefix(";;"):
			return nil, &SyntaxError{Token: ";;"}
		case p.peek() == ';' || p.peek() == '\n' || (p.peek() == '&' && !p.hasPrefix("&&")):
			p.pos++
		default:
			return nil, p.unexpected()
		}
	}
}

func (p *parser) andOr() (AndOr, error) {
	var ao AndOr
	pl, err := p.pipeline()
	if err != nil {
		return ao, err
	}
	ao.Pipelines = append(ao.Pipelines, pl)
	for {
		p.skipBlanks()
		var op string
		switch {
		case p.hasPrefix("&&"):
			op = "&&"
		case p.hasPrefix("||"):
			op = "||"
		default:
			return ao, nil
		}
		p.pos += 2
		p.skipBlanksAndNewlines()
		pl, err := p.pipeline()
		if err != nil {
			return ao, err
		}
		ao.Ops = append(ao.Ops, op)
		ao.Pipelines = append(ao.Pipelines, pl)
	}
}

func (p *parser) pipeline() (Pipeline, error) {
	var pl Pipeline
	for {
		cmd, err := p.simple()
		if err != nil {
			return nil, err
		}
		pl = append(pl, cmd)
		p.skipBlanks()
		if p.peek() != '|' || p.hasPrefix("||") {
			return pl, nil
		}
		p.pos++
		p.skipBlanksAndNewlines()
	}
}

// redirectOp reads a redirection operator at the current position, with an
// optional descriptor number in front. ok is false when none is there.
func (p *parser) redirectOp() (fd int, op string, ok bool) {
	start := p.pos
	if p.hasPrefix("&>") {
		p.pos += 2
		if p.peek() == '>' {
			p.pos++
			return -1, ">>", true
		}
		return -1, ">", true
	}

	fd = -2
	n := 0
	for !p.eof() && p.peek() >= '0' && p.peek() <= '9' && n < 2 {
		n++
		p.pos++
	}
	if n > 0 {
		fd = int(p.src[start]-'0')*10 + int(p.src[p.pos-1]-'0')
		if n == 1 {
			fd = int(p.src[start] - '0')
		}
	}

	switch {
	case p.hasPrefix(">>"):
		op = ">>"
	case p.hasPrefix(">&"):
		op = ">&"
	case p.hasPrefix(">|"):
		op = ">"
		p.pos++
	case p.hasPrefix(">"):
		op = ">"
	case p.hasPrefix("<<"), p.hasPrefix("<&"):
		p.pos = start
		return 0, "", false
	case p.hasPrefix("<"):
		op = "<"
	default:
		p.pos = start
		return 0, "", false
	}
	p.pos += len(op)
	if fd == -2 {
		fd = 1
		if op == "<" {
			fd = 0
		}
	}
	return fd, op, true
}

func (p *parser) simple() (Simple, error) {
	var s Simple
	p.skipBlanks()
	start, end := p.pos, p.pos
	for {
		p.skipBlanks()
		if p.eof() || strings.IndexByte(";&|\n()", p.peek()) >= 0 && !p.hasPrefix("&>") {
			break
		}
		if fd, op, ok := p.redirectOp(); ok {
			p.skipBlanks()
			target, err := p.word()
			if err != nil {
				return s, err
			}
			if len(target) == 0 {
				return s, p.unexpected()
			}
			s.Redirs = append(s.Redirs, Redirect{Fd: fd, Op: op, Target: target})
			end = p.pos
			continue
		}
		if p.peek() == '<' || p.peek() == '>' {
			return s, p.unexpected()
		}

		w, err := p.word()
		if err != nil {
			return s, err
		}
		if len(w) == 0 {
			return s, p.unexpected()
		}
		end = p.pos
		p.words++
		if p.words > maxWords {
			return s, errTooLong
		}
		if len(s.Words) == 0 {
			if a, ok := assignment(w); ok {
				s.Assigns = append(s.Assigns, a)
				continue
			}
		}
		s.Words = append(s.Words, w)
	}
	if len(s.Words) == 0 && len(s.Assigns) == 0 && len(s.Redirs) == 0 {
		return s, p.unexpected()
	}
	s.Text = p.src[start:end]
	return s, nil
}

// assignment splits a NAME=value word.
func assignment(w Word) (Assign, bool) {
	if w[0].Kind != SegBare {
		return Assign{}, false
	}
	name, rest, ok := strings.Cut(w[0].Text, "=")
	if !ok || !validName(name) {
		return Assign{}, false
	}
	value := Word{}
	if rest != "" {
		value = append(value, Segment{Kind: SegLiteral, Text: rest})
	}
	value = append(value, w[1:]...)
	return Assign{Name: name, Value: value}, true
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// word reads one word; an empty result means no word starts here.
func (p *parser) word() (Word, error) {
	var w Word
	add := func(kind SegmentKind, text string) {
		if n := len(w); n > 0 && w[n-1].Kind == kind && (kind == SegBare || kind == SegLiteral) {
			w[n-1].Text += text
			return
		}
		w = append(w, Segment{Kind: kind, Text: text})
	}

	for !p.eof() {
		c := p.peek()
		switch {
		case strings.IndexByte(" \t\n;&|<>()", c) >= 0:
			return w, nil
		case c == '\'':
			end := strings.IndexByte(p.src[p.pos+1:], '\'')
			if end < 0 {
				return nil, &SyntaxError{EOF: true}
			}
			add(SegLiteral, p.src[p.pos+1:p.pos+1+end])
			if end == 0 && len(w) == 0 {
				w = append(w, Segment{Kind: SegLiteral})
			}
			p.pos += end + 2
		case c == '"':
			p.pos++
			before := len(w)
			if err := p.doubleQuoted(&w, add); err != nil {
				return nil, err
			}
			if len(w) == before {
				w = append(w, Segment{Kind: SegLiteral})
			}
		case c == '\\':
			if p.pos+1 >= len(p.src) {
				p.pos++
				continue
			}
			if p.src[p.pos+1] != '\n' {
				add(SegLiteral, p.src[p.pos+1:p.pos+2])
			}
			p.pos += 2
		case c == '$':
			seg, err := p.dollar(false)
			if err != nil {
				return nil, err
			}
			if seg.Kind == SegBare {
				add(SegBare, seg.Text)
			} else {
				w = append(w, seg)
			}
		case c == '`':
			seg, err := p.backtick(false)
			if err != nil {
				return nil, err
			}
			w = append(w, seg)
		default:
			start := p.pos
			for !p.eof() && strings.IndexByte(" \t\n;&|<>()'\"\\$`", p.peek()) < 0 {
				p.pos++
			}
			add(SegBare, p.src[start:p.pos])
		}
	}
	return w, nil
}

// doubleQuoted reads up to the closing quote; the opening one is consumed.
func (p *parser) doubleQuoted(w *Word, add func(SegmentKind, string)) error {
	for !p.eof() {
		c := p.peek()
		switch c {
		case '"':
			p.pos++
			return nil
		case '\\':
			if p.pos+1 < len(p.src) && strings.IndexByte("$`\"\\\n", p.src[p.pos+1]) >= 0 {
				if p.src[p.pos+1] != '\n' {
					add(SegLiteral, p.src[p.pos+1:p.pos+2])
				}
				p.pos += 2
				continue
			}
			add(SegLiteral, `\`)
			p.pos++
		case '$':
			seg, err := p.dollar(true)
			if err != nil {
				return err
			}
			if seg.Kind == SegBare {
				add(SegLiteral, seg.Text)
			} else {
				*w = append(*w, seg)
			}
		case '`':
			seg, err := p.backtick(true)
			if err != nil {
				return err
			}
			*w = append(*w, seg)
		default:
			start := p.pos
			for !p.eof() && strings.IndexByte("\"\\$`", p.peek()) < 0 {
				p.pos++
			}
			add(SegLiteral, p.src[start:p.pos])
		}
	}
	return &SyntaxError{EOF: true}
}

// dollar reads a $ expansion. A "$" that starts none comes back as SegBare.
func (p *parser) dollar(quoted bool) (Segment, error) {
	p.pos++ // $
	if p.eof() {
		return Segment{Kind: SegBare, Text: "$"}, nil
	}
	c := p.peek()
	switch {
	case c == '(':
		inner, err := p.balanced()
		if err != nil {
			return Segment{}, err
		}
		return Segment{Kind: SegSubst, Text: inner, Quoted: quoted}, nil
	case c == '{':
		end := strings.IndexByte(p.src[p.pos:], '}')
		if end < 0 {
			return Segment{}, &SyntaxError{EOF: true}
		}
		name := p.src[p.pos+1 : p.pos+end]
		p.pos += end + 1
		return Segment{Kind: SegVar, Text: name, Quoted: quoted}, nil
	case c == '?' || c == '$' || c == '#' || c == '!' || c == '@' || c == '*' || (c >= '0' && c <= '9'):
		p.pos++
		return Segment{Kind: SegVar, Text: string(c), Quoted: quoted}, nil
	case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		start := p.pos
		for !p.eof() && validName(p.src[start:p.pos+1]) {
			p.pos++
		}
		return Segment{Kind: SegVar, Text: p.src[start:p.pos], Quoted: quoted}, nil
	}
	return Segment{Kind: SegBare, Text: "$"}, nil
}

// balanced reads "( ... )" with nested parentheses and quotes and returns
// the text between the outer parentheses.
func (p *parser) balanced() (string, error) {
	start := p.pos + 1
	depth := 0
	for !p.eof() {
		c := p.peek()
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				p.pos++
				return p.src[start : p.pos-1], nil
			}
		case '\'':
			end := strings.IndexByte(p.src[p.pos+1:], '\'')
			if end < 0 {
				return "", &SyntaxError{EOF: true}
			}
			p.pos += end + 1
		case '\\':
			p.pos++
		}
		p.pos++
	}
	return "", &SyntaxError{EOF: true}
}

func (p *parser) backtick(quoted bool) (Segment, error) {
	p.pos++
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		if c == '`' {
			p.pos++
			return Segment{Kind: SegSubst, Text: b.String(), Quoted: quoted}, nil
		}
		if c == '\\' && p.pos+1 < len(p.src) {
			p.pos++
			c = p.peek()
		}
		b.WriteByte(c)
		p.pos++
	}
	return Segment{}, &SyntaxError{EOF: true}
}
