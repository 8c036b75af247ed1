package canary

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/canary/canarytest"
)

// largeDOCX returns a DOCX of about size bytes: a document.xml of a few
// thousand paragraphs plus an incompressible embedded image, which the
// zip rewriter must copy raw.
func largeDOCX(size int) []byte {
	base := canarytest.DOCX(5000)
	zr, _ := zip.NewReader(bytes.NewReader(base), int64(len(base)))

	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		w, _ := zw.CreateRaw(&f.FileHeader)
		rc, _ := f.OpenRaw()
		_, _ = io.Copy(w, rc)
	}
	media := make([]byte, size-len(base))
	seed := sha256.Sum256([]byte("media"))
	for i := 0; i < len(media); i += len(seed) {
		seed = sha256.Sum256(seed[:])
		copy(media[i:], seed[:])
	}
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "word/media/image1.png", Method: zip.Store})
	_, _ = w.Write(media)
	_ = zw.Close()
	return out.Bytes()
}

// peakHeap samples the live heap every millisecond until stop is called
// and returns the highest value seen above the starting heap.
func peakHeap() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()

	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > base && v-base > peak.Load() {
				peak.Store(v - base)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

func benchmarkInstrument(b *testing.B, name string, input []byte) {
	ctx := testContext(testSlugs[0], PersonaLinux)
	src := bytes.NewReader(input)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()

	stop := peakHeap()
	b.ResetTimer()
	for b.Loop() {
		if _, err := InstrumentTo(name, ctx, src, int64(len(input)), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
}

func BenchmarkInstrumentDOCX10MB(b *testing.B) {
	benchmarkInstrument(b, "docx", largeDOCX(10<<20))
}

func BenchmarkInstrumentPDF20MB(b *testing.B) {
	benchmarkInstrument(b, "pdf", canarytest.PDFClassic(20<<20))
}

func BenchmarkInstrumentPDFXrefStream20MB(b *testing.B) {
	benchmarkInstrument(b, "pdf", canarytest.PDFXrefStream(20<<20))
}
