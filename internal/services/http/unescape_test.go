package httpsvc

import "strconv"

// unescape reverses escape. It exists for tests and tools that need the
// original bytes back.
func unescape(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, strconv.ErrSyntax
		}
		i++
		switch s[i] {
		case '\\':
			out = append(out, '\\')
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 'x':
			if i+2 >= len(s) {
				return nil, strconv.ErrSyntax
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, strconv.ErrSyntax
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, strconv.ErrSyntax
		}
	}
	return out, nil
}
