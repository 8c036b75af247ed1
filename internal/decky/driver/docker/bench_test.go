package docker_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver/docker"
	"github.com/decnet/decnet/internal/decky/driver/docker/dockertest"
)

// BenchmarkDeploy50 deploys 50 linux-server deckies (ssh and http: three
// containers each) on a macvlan LAN and reports wall time and container
// memory per decky. Run it with -benchtime=1x: one iteration is a whole
// fleet.
func BenchmarkDeploy50(b *testing.B) {
	const (
		fleetSize = 50
		workers   = 4
	)
	host := dockertest.Host(b)
	bin := dockertest.Binary(b)
	lan := dockertest.NewLAN(b, "10.213.9")
	fleet := dockertest.Name("dnb")

	d, err := docker.New(docker.Options{
		Host: host, Fleet: fleet, HostID: "bench",
		Network: docker.NetworkConfig{Name: fleet + "_lan", Interface: lan.Parent, Subnet: lan.Subnet, Gateway: "10.213.9.1"},
		Build:   docker.BuildConfig{Binary: bin},
	})
	if err != nil {
		b.Fatalf("docker.New: %v", err)
	}
	defer d.Close()
	ctx := context.Background()
	defer func() {
		if err := d.TeardownAll(ctx); err != nil {
			b.Errorf("TeardownAll: %v", err)
		}
	}()
	if _, err := d.ImageRef(ctx); err != nil {
		b.Fatalf("image: %v", err)
	}

	deckies := make([]decky.Decky, fleetSize)
	for i := range deckies {
		deckies[i] = testDecky(fmt.Sprintf("bench-%02d", i+1), fmt.Sprintf("10.213.9.%d", 10+i), decky.PersonaLinux, "ssh", "http")
	}

	var memPerDecky float64
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := deployAll(ctx, d, deckies, workers); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)

		b.StopTimer()
		time.Sleep(2 * time.Second) // let the emulators finish starting
		memPerDecky = containerMemory(b, host, fleet) / fleetSize
		b.ReportMetric(float64(elapsed.Milliseconds())/fleetSize, "ms/decky")
		if err := d.TeardownAll(ctx); err != nil {
			b.Fatalf("TeardownAll: %v", err)
		}
		b.StartTimer()
	}
	b.ReportMetric(memPerDecky/(1<<20), "MiB/decky")
}

func deployAll(ctx context.Context, d *docker.Driver, deckies []decky.Decky, workers int) error {
	jobs := make(chan decky.Decky)
	errs := make(chan error, len(deckies))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for dk := range jobs {
				if err := d.Deploy(ctx, dk); err != nil {
					errs <- fmt.Errorf("deploy %s: %w", dk.Name, err)
				}
			}
		}()
	}
	for _, dk := range deckies {
		jobs <- dk
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs
}

// containerMemory sums the memory the engine charges to the fleet's
// containers, in bytes.
func containerMemory(b *testing.B, host, fleet string) float64 {
	b.Helper()
	ids, err := exec.Command("docker", "-H", host, "ps", "-q", "--filter", "label=decnet.fleet="+fleet).Output()
	if err != nil {
		b.Fatalf("docker ps: %v", err)
	}
	args := append([]string{"-H", host, "stats", "--no-stream", "--format", "{{.MemUsage}}"}, strings.Fields(string(ids))...)
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		b.Fatalf("docker stats: %v", err)
	}
	var total float64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		used, _, _ := strings.Cut(line, " / ")
		total += parseSize(strings.TrimSpace(used))
	}
	return total
}

func parseSize(s string) float64 {
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			if err != nil {
				return 0
			}
			return v * u.mult
		}
	}
	return 0
}
