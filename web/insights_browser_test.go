package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"klaxon/models"
	"klaxon/web/webtest"
)

// TestBrowserInsights opens Insights in a real browser set to India's time
// zone, checks that the page takes the viewer's zone and draws the alerts,
// then follows the critical bar of the chart to the alert list.
func TestBrowserInsights(t *testing.T) {
	srv := webtest.Start(t)
	b := newTab(t)
	const email = "ada@example.com"
	b.step("sign up", func(ctx context.Context) error {
		if err := open(ctx, srv.URL+"/signup", http.StatusOK); err != nil {
			return err
		}
		if err := chromedp.Do(ctx, typeInto("#f-team", "Night Watch"), typeInto("#f-email", email),
			typeInto("#f-password", password), typeInto("#f-confirm", password)); err != nil {
			return err
		}
		return follow(ctx, `form[action="/signup"] button[type=submit]`, http.StatusOK)
	})
	var user models.User
	if err := srv.DB().Where("email = ?", email).First(&user).Error; err != nil {
		t.Fatal(err)
	}
	integ, err := srv.DB().CreateIntegration(context.Background(), user.AccountID, models.IntegrationInput{Name: "Prod chat", DefaultUrgency: "low"})
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{"outage critical db-1 down", "outage critical db-2 down", "outage disk almost full"} {
		body := fmt.Sprintf(`{"text":%q,"post_id":"post%d","channel_name":"ops","user_name":"joe","trigger_word":"outage"}`, text, i)
		if err := intake(t, srv.URL, integ.PublicID, "application/json", body, http.StatusOK); err != nil {
			t.Fatal(err)
		}
	}

	b.step("open Insights in the viewer's time zone", func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Kolkata"}); err != nil {
			return err
		}
		if err := follow(ctx, `nav[aria-label=Main] a[href="/insights"]`, http.StatusOK); err != nil {
			return err
		}
		// Chromium names the zone Asia/Calcutta, its older name.
		if err := waitFor(ctx, "the page to reload in the browser's zone", `/tz=Asia%2F(Kolkata|Calcutta)/.test(location.search)`, 10*time.Second); err != nil {
			return err
		}
		if err := waitFor(ctx, "the zone to be chosen", `/^Asia\/(Kolkata|Calcutta)$/.test((document.querySelector("#insights-tz") || {}).value)`, 10*time.Second); err != nil {
			return err
		}
		total, err := text(ctx, "[data-testid=summary-total]")
		if err != nil {
			return err
		}
		if total != "3" {
			return fmt.Errorf("the summary counts %q alerts, want 3", total)
		}
		tip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("[data-testid=chart-volume] rect.u-critical title").textContent`))
		if err != nil {
			return err
		}
		if !strings.Contains(tip, "2 critical of 3 alerts") {
			return fmt.Errorf("the critical bar's tooltip is %q", tip)
		}
		return b.screen(ctx, "insights")
	})

	b.step("follow the critical bar to the alert list", func(ctx context.Context) error {
		if err := follow(ctx, "[data-testid=chart-volume] rect.u-critical", http.StatusOK); err != nil {
			return err
		}
		if err := wantPath(ctx, "/alerts"); err != nil {
			return err
		}
		rows, err := alertRows(ctx)
		if err != nil {
			return err
		}
		if len(rows) != 2 || rows[0].Urgency != "critical" || rows[1].Urgency != "critical" {
			return fmt.Errorf("the list shows %+v, want the two critical alerts", rows)
		}
		chip, err := text(ctx, "[data-testid=created-range]")
		if err != nil {
			return err
		}
		if !strings.Contains(chip, "UTC+05:30") {
			return fmt.Errorf("the list's created range %q is not in the viewer's zone", chip)
		}
		return b.screen(ctx, "insights-list")
	})
}
