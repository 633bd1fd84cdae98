package models

import "testing"

var benchBody = []byte(`{"token":"fsjg44c9ojduudat814ue9uf7y","team_id":"iom8hs1izbda7nbg1497g6985r","team_domain":"alerts","channel_id":"n15qytbp638eb8iqwtfx6ex9ga","channel_name":"ops","timestamp":1795835143814,"user_id":"98hybztiaf855p8mshg3fg59th","user_name":"oncall","post_id":"0000000000000000000012x345","text":"alert critical checkout latency above 2s on host-12","trigger_word":"alert","file_ids":""}`)

// BenchmarkParseMattermostJSON compares the fast path, taken by what
// Mattermost sends, with the general one.
func BenchmarkParseMattermostJSON(b *testing.B) {
	b.Run("fast", func(b *testing.B) {
		for range b.N {
			if _, ok := parsePlainJSON(benchBody); !ok {
				b.Fatal("fast path not taken")
			}
		}
	})
	b.Run("general", func(b *testing.B) {
		for range b.N {
			if _, err := parseAnyJSON(benchBody); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mask", func(b *testing.B) {
		s := string(benchBody)
		for range b.N {
			MaskToken(s)
		}
	})
}
