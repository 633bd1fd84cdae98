package models

// MaskTokenAnyBody exposes MaskToken's general path to the tests, which
// check that the fast path gives the same result.
func MaskTokenAnyBody(body string) string { return maskTokenAnyBody(body) }

// MaskPlainJSON exposes MaskToken's fast path, to check that plain bodies
// take it.
func MaskPlainJSON(body string) (string, bool) { return maskPlainJSON(body) }

// ParsePlainJSON and ParseAnyJSON expose ParseMattermostJSON's fast and
// general paths, which the tests check give the same payloads.
func ParsePlainJSON(body []byte) (*MattermostPayload, bool) { return parsePlainJSON(body) }

func ParseAnyJSON(body []byte) (*MattermostPayload, error) { return parseAnyJSON(body) }

// HoldSearchSlots takes every search slot until release is called, as
// long searches of other teams would.
func (d *DB) HoldSearchSlots() (release func()) {
	for range cap(d.searchGate.slots) {
		d.searchGate.slots <- struct{}{}
	}
	return func() {
		for range cap(d.searchGate.slots) {
			<-d.searchGate.slots
		}
	}
}
