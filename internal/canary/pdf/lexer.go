package pdf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Parser limits. PDF files from real producers stay far below them.
const (
	maxDepth      = 64      // nesting of arrays and dictionaries
	maxTokenLen   = 1 << 20 // bytes in one string, name or number
	maxContainer  = 1 << 20 // elements in one array or dictionary
	maxPendingTok = 2       // lookahead for "num gen R"
)

// keyword is a bare word such as obj, endobj, stream, R, xref or trailer.
type keyword string

// delim is one of the structural tokens [ ] << >>.
type delim string

// errSyntax marks malformed input.
var errSyntax = errors.New("pdf: syntax error")

func syntaxErr(pos int64, format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errSyntax, pos, fmt.Sprintf(format, args...))
}

// lexer turns PDF bytes into tokens. pos is the offset of the next unread
// byte, relative to base.
type lexer struct {
	r       *bufio.Reader
	base    int64
	pos     int64
	pending []any
}

func newLexer(r io.Reader, base int64) *lexer {
	return &lexer{r: bufio.NewReaderSize(r, 4096), base: base, pos: base}
}

func (l *lexer) readByte() (byte, error) {
	c, err := l.r.ReadByte()
	if err == nil {
		l.pos++
	}
	return c, err
}

func (l *lexer) unreadByte() {
	if l.r.UnreadByte() == nil {
		l.pos--
	}
}

// skipSpace skips white space and comments.
func (l *lexer) skipSpace() error {
	for {
		c, err := l.readByte()
		if err != nil {
			return err
		}
		if c == '%' {
			for c != '\n' && c != '\r' {
				if c, err = l.readByte(); err != nil {
					return err
				}
			}
			continue
		}
		if !isSpace(c) {
			l.unreadByte()
			return nil
		}
	}
}

// next returns the next token: Integer, Real, Name, String, Bool, nil
// (for null), keyword or delim.
func (l *lexer) next() (any, error) {
	if n := len(l.pending); n > 0 {
		t := l.pending[n-1]
		l.pending = l.pending[:n-1]
		return t, nil
	}
	return l.scan()
}

func (l *lexer) push(t any) { l.pending = append(l.pending, t) }

func (l *lexer) scan() (any, error) {
	if err := l.skipSpace(); err != nil {
		return nil, err
	}
	start := l.pos
	c, err := l.readByte()
	if err != nil {
		return nil, err
	}

	switch {
	case c == '[' || c == ']':
		return delim(c), nil
	case c == '<':
		c2, err := l.readByte()
		if err != nil {
			return nil, syntaxErr(start, "unterminated '<'")
		}
		if c2 == '<' {
			return delim("<<"), nil
		}
		l.unreadByte()
		return l.hexString(start)
	case c == '>':
		c2, err := l.readByte()
		if err != nil || c2 != '>' {
			return nil, syntaxErr(start, "stray '>'")
		}
		return delim(">>"), nil
	case c == '(':
		return l.literalString(start)
	case c == '/':
		return l.name(start)
	case c == ')' || c == '{' || c == '}':
		return nil, syntaxErr(start, "unexpected %q", c)
	}

	word := []byte{c}
	for {
		c, err := l.readByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if isSpace(c) || isDelimiter(c) {
			l.unreadByte()
			break
		}
		if len(word) >= maxTokenLen {
			return nil, syntaxErr(start, "token longer than %d bytes", maxTokenLen)
		}
		word = append(word, c)
	}
	return parseWord(word, start)
}

func parseWord(w []byte, pos int64) (any, error) {
	s := string(w)
	switch s {
	case "true":
		return Bool(true), nil
	case "false":
		return Bool(false), nil
	case "null":
		return nil, nil
	}

	if c := w[0]; c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9') {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return Integer(n), nil
		}
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return Real(s), nil
		}
		// Producers write odd reals such as "--1" that viewers accept;
		// keep them as source text so they are written back unchanged.
		if len(bytes.Trim(w, "+-.0123456789")) == 0 {
			return Real(s), nil
		}
		return nil, syntaxErr(pos, "invalid number %q", s)
	}
	return keyword(s), nil
}

func (l *lexer) name(start int64) (Name, error) {
	var b []byte
	for {
		c, err := l.readByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", err
		}
		if isSpace(c) || isDelimiter(c) {
			l.unreadByte()
			break
		}
		if c == '#' {
			h := make([]byte, 2)
			if _, err := io.ReadFull(l.r, h); err != nil {
				return "", syntaxErr(start, "truncated #xx escape in name")
			}
			l.pos += 2
			v, err := strconv.ParseUint(string(h), 16, 8)
			if err != nil {
				return "", syntaxErr(start, "invalid #xx escape in name")
			}
			c = byte(v)
		}
		if len(b) >= maxTokenLen {
			return "", syntaxErr(start, "name longer than %d bytes", maxTokenLen)
		}
		b = append(b, c)
	}
	return Name(b), nil
}

func (l *lexer) hexString(start int64) (String, error) {
	var digits []byte
	for {
		c, err := l.readByte()
		if err != nil {
			return nil, syntaxErr(start, "unterminated hex string")
		}
		if c == '>' {
			break
		}
		if isSpace(c) {
			continue
		}
		if _, err := strconv.ParseUint(string(c), 16, 8); err != nil {
			return nil, syntaxErr(start, "invalid hex digit %q", c)
		}
		if len(digits) >= 2*maxTokenLen {
			return nil, syntaxErr(start, "hex string longer than %d bytes", maxTokenLen)
		}
		digits = append(digits, c)
	}
	if len(digits)%2 == 1 {
		digits = append(digits, '0')
	}
	out := make([]byte, len(digits)/2)
	for i := range out {
		v, _ := strconv.ParseUint(string(digits[2*i:2*i+2]), 16, 8)
		out[i] = byte(v)
	}
	return String(out), nil
}

func (l *lexer) literalString(start int64) (String, error) {
	var out []byte
	depth := 1
	for {
		c, err := l.readByte()
		if err != nil {
			return nil, syntaxErr(start, "unterminated string")
		}
		if len(out) >= maxTokenLen {
			return nil, syntaxErr(start, "string longer than %d bytes", maxTokenLen)
		}
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return String(out), nil
			}
		case '\\':
			esc, err := l.readByte()
			if err != nil {
				return nil, syntaxErr(start, "unterminated string")
			}
			switch esc {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case '\r':
				if c2, err := l.readByte(); err == nil && c2 != '\n' {
					l.unreadByte()
				}
			case '\n':
			default:
				if esc >= '0' && esc <= '7' {
					v := int(esc - '0')
					for range 2 {
						d, err := l.readByte()
						if err != nil || d < '0' || d > '7' {
							if err == nil {
								l.unreadByte()
							}
							break
						}
						v = v*8 + int(d-'0')
					}
					out = append(out, byte(v))
					continue
				}
				out = append(out, esc)
			}
			continue
		}
		out = append(out, c)
	}
}

// object parses one direct object, resolving "num gen R" into a Ref.
func (l *lexer) object(depth int) (Object, error) {
	if depth > maxDepth {
		return nil, syntaxErr(l.pos, "nesting deeper than %d", maxDepth)
	}
	start := l.pos
	t, err := l.next()
	if err != nil {
		return nil, unexpectedEOF(err)
	}

	switch v := t.(type) {
	case delim:
		switch v {
		case "[":
			return l.array(depth)
		case "<<":
			return l.dict(depth)
		}
		return nil, syntaxErr(start, "unexpected %q", string(v))
	case keyword:
		return nil, syntaxErr(start, "unexpected keyword %q", string(v))
	case Integer:
		return l.maybeRef(v)
	}
	return t, nil
}

// maybeRef looks ahead for "gen R" after an integer.
func (l *lexer) maybeRef(num Integer) (Object, error) {
	t2, err := l.next()
	if err != nil {
		return num, nil
	}
	gen, ok := t2.(Integer)
	if !ok {
		l.push(t2)
		return num, nil
	}
	t3, err := l.next()
	if err != nil {
		l.push(t2)
		return num, nil
	}
	if kw, ok := t3.(keyword); ok && kw == "R" {
		if num < 0 || gen < 0 || num > 1<<31 || gen > 65535 {
			return nil, syntaxErr(l.pos, "invalid reference %d %d R", num, gen)
		}
		return Ref{Num: int(num), Gen: int(gen)}, nil
	}
	l.push(t3)
	l.push(t2)
	return num, nil
}

func (l *lexer) array(depth int) (Array, error) {
	var out Array
	for {
		t, err := l.next()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if d, ok := t.(delim); ok && d == "]" {
			return out, nil
		}
		l.push(t)
		o, err := l.object(depth + 1)
		if err != nil {
			return nil, err
		}
		if len(out) >= maxContainer {
			return nil, syntaxErr(l.pos, "array longer than %d elements", maxContainer)
		}
		out = append(out, o)
	}
}

func (l *lexer) dict(depth int) (Dict, error) {
	out := Dict{}
	for {
		start := l.pos
		t, err := l.next()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if d, ok := t.(delim); ok && d == ">>" {
			return out, nil
		}
		key, ok := t.(Name)
		if !ok {
			return nil, syntaxErr(start, "dictionary key is %T, want a name", t)
		}
		val, err := l.object(depth + 1)
		if err != nil {
			return nil, err
		}
		if len(out) >= maxContainer {
			return nil, syntaxErr(l.pos, "dictionary larger than %d entries", maxContainer)
		}
		out[key] = val
	}
}

// streamStart consumes the end of line after the "stream" keyword and
// returns the offset of the first data byte.
func (l *lexer) streamStart() (int64, error) {
	c, err := l.readByte()
	if err != nil {
		return 0, unexpectedEOF(err)
	}
	if c == '\r' {
		c2, err := l.readByte()
		if err == nil && c2 != '\n' {
			l.unreadByte()
		}
	} else if c != '\n' {
		l.unreadByte()
	}
	return l.pos, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: unexpected end of data", errSyntax)
	}
	return err
}
