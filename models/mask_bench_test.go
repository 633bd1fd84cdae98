package models

import "testing"

var benchBody = `{"token":"fsjg44c9ojduudat814ue9uf7y","team_id":"iom8hs1izbda7nbg1497g6985r","team_domain":"alerts","channel_id":"n15qytbp638eb8iqwtfx6ex9ga","channel_name":"ops","timestamp":1795835143814,"user_id":"98hybztiaf855p8mshg3fg59th","user_name":"oncall","post_id":"0000000000000000000012x345","text":"alert critical checkout latency above 2s on host-12","trigger_word":"alert","file_ids":""}`

// BenchmarkMaskToken masks the token of what Mattermost sends.
func BenchmarkMaskToken(b *testing.B) {
	for range b.N {
		MaskToken(benchBody)
	}
}
