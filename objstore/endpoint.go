package objstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// ErrUnreachable is the one answer a failure at an endpoint a session chose
// gets (a refused or timed-out connection, a name that does not resolve, a
// reply that is not an S3 server's): it never tells a closed port from a
// live service, so kapot.s3.endpoint cannot scan a network.
var ErrUnreachable = errors.New("object store at the session's endpoint is unreachable or refused the request")

// ErrLocalAddress refuses an endpoint or URL that resolves to a loopback,
// link-local (cloud metadata), unspecified or multicast address, in a
// process without --allow-local-urls. It is an ErrForbidden.
var ErrLocalAddress error = forbidden("local address refused (processes started with --allow-local-urls may reach it)")

// forbidden is an error that is an ErrForbidden without repeating its text.
type forbidden string

func (e forbidden) Error() string      { return string(e) }
func (forbidden) Is(target error) bool { return target == ErrForbidden }

// localAddr reports whether ip is one a job must not make the node reach:
// its own services (loopback, unspecified), cloud metadata (link-local) or
// a multicast group.
func localAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() ||
		ip.IsMulticast() || ip.IsInterfaceLocalMulticast()
}

// refuseLocalDial is a net.Dialer Control: it runs on the address actually
// dialled (after DNS, for every connection and redirect), so neither a
// name that resolves to a local address nor one rebound after a check
// reaches one.
func refuseLocalDial(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, ErrForbidden)
	}
	if localAddr(ip) {
		return fmt.Errorf("%s: %w", ip.Unmap(), ErrLocalAddress)
	}
	return nil
}

// checkEndpoint refuses, before any request, a session's S3 endpoint whose
// host is or resolves to a local address (every address of the name is
// checked). A name that does not resolve is ErrUnreachable.
func checkEndpoint(ctx context.Context, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("session property %s=%q: want an http:// or https:// URL", PropS3Endpoint, endpoint)
	}
	host := u.Hostname()
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil || len(ips) == 0 {
		return fmt.Errorf("%s: %w: %w", endpoint, ErrUnreachable, ErrIO)
	}
	for _, ip := range ips {
		if localAddr(ip) {
			return fmt.Errorf("%w: %s resolves to %s: %w", ErrUnreachable, endpoint, ip.Unmap(), ErrLocalAddress)
		}
	}
	return nil
}
