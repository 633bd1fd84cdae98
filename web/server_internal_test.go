package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestRequestLoggerRemovesParsedUploads: a multipart form parsed behind the
// request logger (which hands the chain a copy of the request) leaves no
// temporary file once the request is done.
func TestRequestLoggerRemovesParsedUploads(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	e := echo.New()
	e.Use(requestLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	spilled := 0
	e.POST("/upload", func(c echo.Context) error {
		if err := c.Request().ParseMultipartForm(1); err != nil {
			return err
		}
		entries, _ := os.ReadDir(tmp)
		spilled = len(entries)
		return c.NoContent(http.StatusNoContent)
	})
	body := "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.bin\"\r\n\r\n" + strings.Repeat("z", 4096) + "\r\n--b--\r\n"
	req := httptest.NewRequest(http.MethodPost, "/upload", strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || spilled != 1 {
		t.Fatalf("status %d, %d files during the request: want 204 and the upload spilled to one file", rec.Code, spilled)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("%d files left in the temp folder after the request, want none", len(entries))
	}
}
