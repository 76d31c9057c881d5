package workqueue

import (
	"strings"
	"testing"
)

// BenchmarkLoadHostile measures the specs an attacker or a broken
// generator might hand to vet. Each must be rejected well within a second.
func BenchmarkLoadHostile(b *testing.B) {
	var keys strings.Builder
	for i := range 200_000 {
		keys.WriteString("k")
		keys.WriteString(strings.Repeat("x", i%10))
		keys.WriteString(string(rune('a' + i%26)))
		keys.WriteString(": 1\n")
	}
	cases := map[string]string{
		"alias-bomb":   aliasBomb(),
		"deep-nesting": "a: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n",
		"200k-keys":    keys.String(),
		"4MiB-scalar":  "apiVersion: " + strings.Repeat("x", 4<<20-20) + "\n",
		"valid":        valid,
	}
	for name, src := range cases {
		b.Run(name, func(b *testing.B) {
			data := []byte(src)
			for b.Loop() {
				_, err := Parse("bench.yaml", data)
				if (err == nil) != (name == "valid") {
					b.Fatalf("err = %v", err)
				}
			}
		})
	}
}
