package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// metadataAddrs are cloud instance-metadata endpoints outside the
// link-local ranges: Alibaba Cloud (100.100.100.200), Oracle Cloud
// (192.0.0.192) and AWS over IPv6 (fd00:ec2::254). 169.254.169.254 is
// covered by the link-local check.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("100.100.100.200"),
	netip.MustParseAddr("192.0.0.192"),
	netip.MustParseAddr("fd00:ec2::254"),
}

// metadataHosts are names that resolve to a metadata endpoint inside
// clouds.
var metadataHosts = []string{"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}

// unsafeAddr returns why an outbound target address is rejected, or "".
func unsafeAddr(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsUnspecified():
		return "unspecified address"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "link-local address"
	case a.IsMulticast():
		return "multicast address"
	}
	for _, m := range metadataAddrs {
		if a == m {
			return "cloud metadata address"
		}
	}
	return ""
}

// checkHost rejects unsafe address literals and metadata host names.
func checkHost(host string, allowUnsafe bool) error {
	if allowUnsafe {
		return nil
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if why := unsafeAddr(a); why != "" {
			return fmt.Errorf("%s %s is not allowed (set DECNET_WEBHOOK_ALLOW_PRIVATE=true to allow it)", why, a)
		}
		return nil
	}
	lower := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, m := range metadataHosts {
		if lower == m {
			return fmt.Errorf("cloud metadata host %s is not allowed (set DECNET_WEBHOOK_ALLOW_PRIVATE=true to allow it)", host)
		}
	}
	return nil
}

// newDialer returns a dialer that checks every resolved address before it
// connects, so a name that resolves (or later rebinds) to an unsafe
// address is refused too.
func newDialer(allowUnsafe bool, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if allowUnsafe {
		return d
	}
	d.Control = func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("webhook: dial %s: not an IP address", address)
		}
		if why := unsafeAddr(a); why != "" {
			return fmt.Errorf("webhook: dial %s rejected: %s", address, why)
		}
		return nil
	}
	return d
}

// dialContext is the signature shared by net.Dialer and tests.
type dialContext func(ctx context.Context, network, address string) (net.Conn, error)
