package web

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// MaxPageBody is the largest body a page route reads: Klaxon's forms are a
// few KiB. Machine endpoints (intake, API) set their own limits.
const MaxPageBody = 64 << 10

const (
	msgCrossOrigin = "This form was sent from another site, not from Klaxon's own pages. Go back, reload the page and try again."
	msgPageTooBig  = "This form is larger than Klaxon's forms can be (64 KiB). Go back and shorten what you entered."
	msgPageType    = "Klaxon's pages take forms sent as application/x-www-form-urlencoded, as browsers send them; file uploads and other content types are refused."
	msgPageRead    = "The form could not be read completely. Go back and send it again."
)

// crossOrigin refuses state-changing requests that the browser says come
// from another site (Fetch metadata, or Origin on older browsers), before
// any body is read. The CSRF token check stays behind it. The public base
// URL's origin is trusted, for proxies that rewrite the Host header.
func crossOrigin(baseURL string) echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	if u, err := url.Parse(baseURL); err == nil && u.Scheme != "" && u.Host != "" {
		_ = cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := cop.Check(c.Request()); err != nil {
				return echo.NewHTTPError(http.StatusForbidden, msgCrossOrigin)
			}
			return next(c)
		}
	}
}

// pageForms lets page routes read only small url-encoded forms: a body over
// MaxPageBody is answered 413 and any other content type (multipart above
// all, which Go spills to temporary files) 415, before anything parses it.
// The form is parsed here, so handlers and the CSRF check only read it.
func pageForms(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > MaxPageBody {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, msgPageTooBig)
		}
		if r.ContentLength != 0 {
			mediaType, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
			if mediaType != echo.MIMEApplicationForm {
				return echo.NewHTTPError(http.StatusUnsupportedMediaType, msgPageType)
			}
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, MaxPageBody))
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, msgPageTooBig)
		}
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, msgPageRead)
		}
		// Malformed pairs are skipped, as net/http always did for Klaxon's
		// handlers (they read fields with FormValue).
		r.Body = io.NopCloser(bytes.NewReader(body))
		_ = r.ParseForm()
		return next(c)
	}
}
