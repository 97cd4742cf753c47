package flightsql

import (
	"context"
	"encoding/base64"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestAuth(t *testing.T) {
	var rejected []string
	a := NewAuth("client-secret", "operator-secret", func(_, reason string) { rejected = append(rejected, reason) })
	call := func(auth string) context.Context {
		if auth == "" {
			return context.Background()
		}
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", auth))
	}
	basic := func(pw string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+pw)) }
	const exec = "/arrow.flight.protocol.FlightService/GetFlightInfo"
	for _, c := range []struct {
		name, method, auth string
		ok, admin          bool
	}{
		{"health is open", "/grpc.health.v1.Health/Check", "", true, false},
		{"missing", exec, "", false, false},
		{"client secret", exec, basic("client-secret"), true, false},
		{"operator secret", exec, basic("operator-secret"), true, true},
		{"wrong secret", exec, basic("guess"), false, false},
		{"malformed", exec, "Basic %%%", false, false},
		{"unknown scheme", exec, "Digest x", false, false},
		{"unknown token", exec, "Bearer abc", false, false},
	} {
		_, admin, err := a.check(call(c.auth), c.method)
		if (err == nil) != c.ok || admin != c.admin {
			t.Errorf("%s: err %v admin %v; want ok %v admin %v", c.name, err, admin, c.ok, c.admin)
		}
		if err != nil && status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v is not Unauthenticated", c.name, err)
		}
	}
	// A handshake with the operator secret gives a token that stays an
	// operator's.
	tok, admin, err := a.check(call(basic("operator-secret")), "/arrow.flight.protocol.FlightService/Handshake")
	if err != nil || tok == "" || !admin {
		t.Fatalf("handshake: %q %v %v", tok, admin, err)
	}
	if _, admin, err := a.check(call("Bearer "+tok), exec); err != nil || !admin {
		t.Fatalf("bearer token: %v %v", admin, err)
	}
	if len(rejected) != 5 {
		t.Errorf("rejections reported: %v, want 5", rejected)
	}
}
