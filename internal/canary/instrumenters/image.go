package instrumenters

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/decnet/decnet/internal/canary/artifact"
)

// imageInstrumenter adds a text comment with the callback URL to PNG,
// JPEG and GIF files without re-encoding them: pixels and other metadata
// (EXIF, ICC profiles) stay byte for byte.
type imageInstrumenter struct{}

func (imageInstrumenter) Name() string { return "image" }

// maxChunk caps one PNG chunk (the format allows 2^31-1 bytes).
const maxChunk = 256 << 20

func (imageInstrumenter) Instrument(tc artifact.Context, src io.ReaderAt, size int64, w io.Writer) (artifact.Artifact, error) {
	head := make([]byte, 8)
	n, _ := src.ReadAt(head, 0)
	head = head[:n]

	url := tc.CallbackURL()
	r := bufio.NewReaderSize(io.NewSectionReader(src, 0, size), 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)

	var format, detail string
	var err error
	switch {
	case len(head) == 8 && string(head) == "\x89PNG\r\n\x1a\n":
		format, detail = "PNG", "tEXt chunk \"Comment\" before IEND"
		err = instrumentPNG(r, bw, url)
	case len(head) >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff:
		format, detail = "JPEG", "COM segment after the APPn segments"
		err = instrumentJPEG(r, bw, url)
	case len(head) >= 6 && (string(head[:6]) == "GIF87a" || string(head[:6]) == "GIF89a"):
		format, detail = "GIF", "comment extension after the global color table"
		err = instrumentGIF(r, bw, url)
	default:
		return artifact.Artifact{}, artifact.Unsupported("image: not a PNG, JPEG or GIF file")
	}
	if err != nil {
		return artifact.Artifact{}, err
	}
	if err := bw.Flush(); err != nil {
		return artifact.Artifact{}, fmt.Errorf("image: write output: %w", err)
	}

	return artifact.Artifact{
		Instrumenter: "image",
		Kind:         artifact.KindHTTP,
		Mode:         0o644,
		MtimeOffset:  -artifact.Days(30),
		Notes: artifact.Notes{
			What:    "the uploaded " + format + " image with the callback URL in a metadata comment",
			Trips:   "a request to the URL by someone who reads the image metadata and follows it; viewers do not fetch it on their own",
			Clients: []string{"exiftool, identify or a file manager's properties pane, then a browser or curl"},
			Details: []string{detail, "url=" + url},
		},
	}, nil
}

func instrumentPNG(r io.Reader, w io.Writer, url string) error {
	sig := make([]byte, 8)
	if _, err := io.ReadFull(r, sig); err != nil {
		return artifact.Unsupported("image: truncated PNG signature")
	}
	if _, err := w.Write(sig); err != nil {
		return err
	}

	hdr := make([]byte, 8)
	first := true
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return artifact.Unsupported("image: PNG ends before IEND")
		}
		length := binary.BigEndian.Uint32(hdr[:4])
		typ := string(hdr[4:8])
		if length > maxChunk {
			return artifact.Unsupported("image: PNG chunk %q is %d bytes, the limit is %d", typ, length, maxChunk)
		}
		if first && typ != "IHDR" {
			return artifact.Unsupported("image: PNG does not start with IHDR")
		}
		first = false

		if typ == "IEND" {
			if err := writePNGChunk(w, "tEXt", append([]byte("Comment\x00"), url...)); err != nil {
				return err
			}
		}

		crc := crc32.NewIEEE()
		crc.Write(hdr[4:8])
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		if _, err := io.CopyN(io.MultiWriter(w, crc), r, int64(length)); err != nil {
			return artifact.Unsupported("image: PNG chunk %q is truncated", typ)
		}
		sum := make([]byte, 4)
		if _, err := io.ReadFull(r, sum); err != nil {
			return artifact.Unsupported("image: PNG chunk %q is truncated", typ)
		}
		if binary.BigEndian.Uint32(sum) != crc.Sum32() {
			return artifact.Unsupported("image: PNG chunk %q has a bad CRC", typ)
		}
		if _, err := w.Write(sum); err != nil {
			return err
		}
		if typ == "IEND" {
			// Bytes after IEND are dropped; viewers ignore them anyway.
			return nil
		}
	}
}

func writePNGChunk(w io.Writer, typ string, data []byte) error {
	buf := make([]byte, 0, 12+len(data))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(data)))
	buf = append(buf, typ...)
	buf = append(buf, data...)
	buf = binary.BigEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf[4:]))
	_, err := w.Write(buf)
	return err
}

// instrumentJPEG copies SOI and the leading APPn and COM segments, writes
// a COM segment, then copies the rest unchanged.
func instrumentJPEG(r *bufio.Reader, w io.Writer, url string) error {
	soi := make([]byte, 2)
	if _, err := io.ReadFull(r, soi); err != nil {
		return artifact.Unsupported("image: truncated JPEG")
	}
	if _, err := w.Write(soi); err != nil {
		return err
	}

	for {
		peek, err := r.Peek(4)
		if err != nil {
			return artifact.Unsupported("image: JPEG ends inside its header")
		}
		if peek[0] != 0xff {
			return artifact.Unsupported("image: JPEG segment does not start with a marker")
		}
		marker := peek[1]
		isAPP := marker >= 0xe0 && marker <= 0xef
		if !isAPP && marker != 0xfe {
			break
		}
		length := int64(binary.BigEndian.Uint16(peek[2:4]))
		if length < 2 {
			return artifact.Unsupported("image: JPEG segment has an invalid length")
		}
		if _, err := io.CopyN(w, r, 2+length); err != nil {
			return artifact.Unsupported("image: JPEG segment is truncated")
		}
	}

	comment := []byte(url)
	if len(comment) > 65533 {
		return artifact.Unsupported("image: comment too long for a JPEG COM segment")
	}
	seg := []byte{0xff, 0xfe, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(comment)+2))
	if _, err := w.Write(append(seg, comment...)); err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("image: copy JPEG data: %w", err)
	}
	return nil
}

// instrumentGIF writes a comment extension right after the logical screen
// descriptor and global color table, where extensions may appear.
func instrumentGIF(r io.Reader, w io.Writer, url string) error {
	head := make([]byte, 13)
	if _, err := io.ReadFull(r, head); err != nil {
		return artifact.Unsupported("image: truncated GIF header")
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	if head[10]&0x80 != 0 {
		tableSize := int64(3 << ((head[10] & 0x07) + 1))
		if _, err := io.CopyN(w, r, tableSize); err != nil {
			return artifact.Unsupported("image: truncated GIF color table")
		}
	}

	ext := []byte{0x21, 0xfe}
	for rest := []byte(url); len(rest) > 0; {
		n := min(len(rest), 255)
		ext = append(ext, byte(n))
		ext = append(ext, rest[:n]...)
		rest = rest[n:]
	}
	ext = append(ext, 0)
	if _, err := w.Write(ext); err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("image: copy GIF data: %w", err)
	}
	return nil
}
