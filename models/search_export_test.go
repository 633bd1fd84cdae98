package models

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
