package flightsql

import (
	"context"
	"encoding/base64"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/internal/security"
)

func TestAuth(t *testing.T) {
	var rejected []string
	a := NewAuth("client-secret", "operator-secret", map[string]string{"alice": "alice-secret"}, func(_, reason string) { rejected = append(rejected, reason) })
	call := func(auth string) context.Context {
		if auth == "" {
			return context.Background()
		}
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", auth))
	}
	basicAs := func(user, pw string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw)) }
	basic := func(pw string) string { return basicAs("user", pw) }
	const exec = "/arrow.flight.protocol.FlightService/GetFlightInfo"
	for _, c := range []struct {
		name, method, auth string
		ok                 bool
		who                string
	}{
		{"health is open", "/grpc.health.v1.Health/Check", "", true, ""},
		{"missing", exec, "", false, ""},
		{"client secret", exec, basic("client-secret"), true, "client"},
		{"operator secret", exec, basic("operator-secret"), true, "operator"},
		{"a principal's own secret", exec, basicAs("alice", "alice-secret"), true, "alice"},
		{"a principal with the client secret", exec, basicAs("alice", "client-secret"), false, ""},
		{"a principal's secret as another user", exec, basicAs("bob", "alice-secret"), false, ""},
		{"wrong secret", exec, basic("guess"), false, ""},
		{"malformed", exec, "Basic %%%", false, ""},
		{"unknown scheme", exec, "Digest x", false, ""},
		{"unknown token", exec, "Bearer abc", false, ""},
	} {
		_, who, err := a.check(call(c.auth), c.method)
		if (err == nil) != c.ok || who.Name != c.who || who.Operator != (c.who == "operator") {
			t.Errorf("%s: err %v principal %+v; want ok %v principal %q", c.name, err, who, c.ok, c.who)
		}
		if err != nil && status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v is not Unauthenticated", c.name, err)
		}
	}
	// A handshake with the operator secret gives a token that stays an
	// operator's.
	tok, who, err := a.check(call(basic("operator-secret")), "/arrow.flight.protocol.FlightService/Handshake")
	if err != nil || tok == "" || !who.Operator {
		t.Fatalf("handshake: %q %v %v", tok, who, err)
	}
	if _, who, err := a.check(call("Bearer "+tok), exec); err != nil || !who.Operator {
		t.Fatalf("bearer token: %v %v", who, err)
	}
	// A principal's token stays that principal's.
	tok, _, err = a.check(call(basicAs("alice", "alice-secret")), "/arrow.flight.protocol.FlightService/Handshake")
	if err != nil {
		t.Fatal(err)
	}
	if _, who, err := a.check(call("Bearer "+tok), exec); err != nil || who != (security.Principal{Name: "alice"}) {
		t.Fatalf("alice's bearer token: %+v %v", who, err)
	}
	if len(rejected) != 7 {
		t.Errorf("rejections reported: %v, want 7", rejected)
	}
}
