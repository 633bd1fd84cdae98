package models

import "errors"

// Domain errors. Handlers map them to HTTP statuses; another account's object
// is simply ErrNotFound.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict means the change is no longer allowed, e.g. an alert that
	// someone else resolved first.
	ErrConflict = errors.New("conflict")
	// ErrAmbiguous means a short reference matches several objects.
	ErrAmbiguous = errors.New("ambiguous")
)

// ValidationErrors maps a form field to what is wrong with it.
type ValidationErrors map[string]string

func (v ValidationErrors) Error() string {
	return "invalid input"
}

// Add records a message for field, keeping the first one.
func (v ValidationErrors) Add(field, msg string) {
	if _, ok := v[field]; !ok {
		v[field] = msg
	}
}

// OrNil returns nil when there are no errors, so that it can be returned as
// an error value.
func (v ValidationErrors) OrNil() error {
	if len(v) == 0 {
		return nil
	}
	return v
}
