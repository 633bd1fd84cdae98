package models_test

import (
	"testing"

	"klaxon/models"
)

func TestUrgencyFromText(t *testing.T) {
	const def = models.UrgencyMedium
	tests := []struct {
		text string
		want models.Urgency
	}{
		{"#page_noc cRitical outage on server-1", models.UrgencyCritical}, // PagerTree's own fixture
		{"outage LOW disk on db-1", models.UrgencyLow},
		{"down: high latency", models.UrgencyHigh},
		{"medium priority", models.UrgencyMedium},
		{"critical: db-1 is down", models.UrgencyCritical},
		{"(high) db-1", models.UrgencyHigh},
		{"db-1 is down, urgency=critical.", models.UrgencyCritical},
		// Words inside words do not count (PagerTree would say low/high here).
		{"outage slowdown on api", def},
		{"outage on the highway sensor", def},
		{"the following hosts are down", def},
		{"lowest disk on db-1", def},
		{"highlights of the day", def},
		{"criticality unknown", def},
		// The sev and p forms.
		{"SEV-1 database down", models.UrgencyCritical},
		{"sev1 database down", models.UrgencyCritical},
		{"sev2 api errors", models.UrgencyHigh},
		{"sev-3 flaky test", models.UrgencyMedium},
		{"Sev4 typo on the status page", models.UrgencyLow},
		{"P1 checkout broken", models.UrgencyCritical},
		{"p2 checkout slow", models.UrgencyHigh},
		{"P3 some noise", models.UrgencyMedium},
		{"p4 whatever", models.UrgencyLow},
		{"p5 is not a level", def},
		{"mp3 player sev10 app1", def},
		// The first urgency word wins.
		{"low disk, but critical soon", models.UrgencyLow},
		{"outage sev2 critical", models.UrgencyHigh},
		// No match: the default.
		{"outage db-1 is down", def},
		{"", def},
	}
	for _, tt := range tests {
		if got := models.UrgencyFromText(tt.text, def); got != tt.want {
			t.Errorf("UrgencyFromText(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
	if got := models.UrgencyFromText("nothing here", models.UrgencyLow); got != models.UrgencyLow {
		t.Errorf("the default must be the integration's: got %q", got)
	}
}
