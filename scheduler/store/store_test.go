package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func exercise(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	for _, kv := range []KV{{"b", []byte("2")}, {"a", []byte("1")}, {"c", []byte("3")}} {
		if err := s.Put(ctx, Tables, kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, Tables, "a", []byte("1bis")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, Tables, "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "missing", "x"); err != nil {
		t.Fatalf("delete from a missing bucket: %v", err)
	}
	got, err := s.List(ctx, Tables)
	if err != nil {
		t.Fatal(err)
	}
	if want := []KV{{"a", []byte("1bis")}, {"b", []byte("2")}}; !slices.EqualFunc(got, want, func(x, y KV) bool { return x.Key == y.Key && string(x.Value) == string(y.Value) }) {
		t.Fatalf("list: %q", got)
	}
	if other, err := s.List(ctx, Jobs); err != nil || len(other) != 0 {
		t.Fatalf("another bucket: %q %v", other, err)
	}
	// A bucket whose name the other's starts with stays apart from it.
	for _, b := range []string{"tasks-ab", "tasks-abc"} {
		if err := s.Put(ctx, b, "1/2", []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteBucket(ctx, "tasks-ab"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "never-made"); err != nil {
		t.Fatalf("delete a missing bucket: %v", err)
	}
	if got, err := s.List(ctx, "tasks-ab"); err != nil || len(got) != 0 {
		t.Fatalf("deleted bucket: %q %v", got, err)
	}
	if got, err := s.List(ctx, "tasks-abc"); err != nil || len(got) != 1 || string(got[0].Value) != "tasks-abc" {
		t.Fatalf("the other bucket: %q %v", got, err)
	}
}

func TestMemory(t *testing.T) { exercise(t, Memory()) }

// TestBoltSurvivesReopen: what one scheduler wrote, the next one on the
// same dir reads; while one holds the dir, another is refused.
func TestBoltSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, s)
	if _, err := Open(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("second open of a held dir: %v, want ErrInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.List(context.Background(), Tables)
	if err != nil || len(got) != 2 || got[0].Key != "a" || string(got[0].Value) != "1bis" {
		t.Fatalf("after reopening: %q %v", got, err)
	}
}
