package placement

import (
	"errors"
	"strings"
	"testing"

	"github.com/decnet/decnet/internal/canary/artifact"
)

const (
	linux   = artifact.PersonaLinux
	windows = artifact.PersonaWindows
)

func TestValidate(t *testing.T) {
	tests := []struct {
		path    string
		persona artifact.Persona
		wantErr string // substring; "" means valid
	}{
		{"/home/admin/.aws/credentials", linux, ""},
		{"/etc/app.conf", linux, ""},
		{"/a", linux, ""},
		{`C:\Users\Administrator\Documents\q.docx`, windows, ""},
		{"C:/Users/Administrator/q.docx", windows, ""},
		{"/home/Administrator/q.docx", windows, ""},
		{`d:\data\x.txt`, windows, ""},
		{"", linux, "empty"},
		{"home/admin/x", linux, "relative"},
		{"./x", linux, "relative"},
		{"/", linux, "bare root"},
		{`C:\`, windows, "bare root"},
		{"/home/admin/", linux, "ends with a separator"},
		{`C:\Users\`, windows, "ends with a separator"},
		{"/home//admin", linux, "empty segment"},
		{`C:\Users\\x`, windows, "empty segment"},
		{"/home/../etc/passwd", linux, `".." segment`},
		{"/home/./x", linux, `"." segment`},
		{`C:\Users\..\x`, windows, `".." segment`},
		{"/home/a\x00b", linux, "NUL"},
		{"/home/a\nb", linux, "line break"},
		{"/home/a\rb", linux, "line break"},
		{`C:\Users\x`, linux, "drive path"},
		{"C:/x", linux, "drive path"},
		{`C:x`, windows, "drive-relative"},
		{`\\server\share\x`, windows, "UNC"},
		{`C:\Users\a?b`, windows, "does not allow"},
		{"/" + strings.Repeat("a", 300), linux, "longer than"},
		{"/" + strings.Repeat("a/", 2100) + "x", linux, "limit"},
	}
	for _, tt := range tests {
		err := Validate(tt.path, tt.persona)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Validate(%q, %s) error: %v, want nil", tt.path, tt.persona, err)
		case tt.wantErr != "" && err == nil:
			t.Errorf("Validate(%q, %s) = nil, want error containing %q", tt.path, tt.persona, tt.wantErr)
		case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("Validate(%q, %s) error: %v, want it to contain %q", tt.path, tt.persona, err, tt.wantErr)
		}
	}
}

func TestDefaultsAreValid(t *testing.T) {
	for name := range defaults {
		for _, p := range []artifact.Persona{linux, windows} {
			path, err := Default(name, p)
			if err != nil {
				t.Fatalf("Default(%q, %s) error: %v", name, p, err)
			}
			if err := Validate(path, p); err != nil {
				t.Errorf("Default(%q, %s) = %q, invalid: %v", name, p, path, err)
			}
			if p == windows && !strings.HasPrefix(path, `C:\`) {
				t.Errorf("Default(%q, windows) = %q, want a drive path", name, path)
			}
			if p == linux && !strings.HasPrefix(path, "/") {
				t.Errorf("Default(%q, linux) = %q, want a POSIX path", name, path)
			}
		}
	}
}

func TestDefaultUnknownGenerator(t *testing.T) {
	_, err := Default("nope", linux)
	if !errors.Is(err, artifact.ErrUnknown) {
		t.Errorf("Default(nope) error = %v, want ErrUnknown", err)
	}
}

func TestForUpload(t *testing.T) {
	tests := []struct {
		name    string
		persona artifact.Persona
		want    string
	}{
		{"report.pdf", linux, "/home/admin/Documents/report.pdf"},
		{`C:\tmp\report.pdf`, windows, `C:\Users\Administrator\Documents\report.pdf`},
		{"../../etc/passwd", linux, "/home/admin/Documents/passwd"},
		{"..", linux, "/home/admin/Documents/document"},
		{"", windows, `C:\Users\Administrator\Documents\document`},
		{"a?b.txt", windows, `C:\Users\Administrator\Documents\document`},
	}
	for _, tt := range tests {
		got := ForUpload(tt.name, tt.persona)
		if got != tt.want {
			t.Errorf("ForUpload(%q, %s) = %q, want %q", tt.name, tt.persona, got, tt.want)
		}
		if err := Validate(got, tt.persona); err != nil {
			t.Errorf("ForUpload(%q, %s) = %q, invalid: %v", tt.name, tt.persona, got, err)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"/home/admin/x", `C:\Users\x`, "/", "/a/../b", "//", `\\s\x`, "C:", "/a\x00"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, path string, win bool) {
		p := linux
		if win {
			p = windows
		}
		if Validate(path, p) != nil {
			return
		}

		// Every accepted path is absolute, has no dot segments and no
		// empty segments.
		if strings.ContainsAny(path, "\x00\r\n") {
			t.Fatalf("Validate(%q) accepted a NUL or line break", path)
		}
		seps := "/"
		if win {
			seps = `\/`
		}
		var rest string
		switch {
		case hasDrive(path):
			if !win {
				t.Fatalf("Validate(%q, linux) accepted a drive path", path)
			}
			rest = path[3:]
		default:
			rest = path[1:]
		}
		for _, s := range splitAny(rest, seps) {
			if s == "" || s == "." || s == ".." {
				t.Fatalf("Validate(%q) accepted segment %q", path, s)
			}
		}
	})
}
