package main

import (
	"testing"
)

func TestKeyboard(t *testing.T) {
	k := newKeyboard()
	// 'a' is its US key; 'A' without Shift held presses Shift around it.
	if got := k.key('a', true); len(got) != 1 || got[0] != (keyEvent{code: 0x1E, down: true}) {
		t.Fatalf("a: %+v", got)
	}
	if got := k.key('a', false); len(got) != 1 || got[0] != (keyEvent{code: 0x1E}) {
		t.Fatalf("a up: %+v", got)
	}
	got := k.key('A', true)
	want := []keyEvent{{code: uint16(scShiftL), down: true}, {code: 0x1E, down: true}, {code: uint16(scShiftL)}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("A: %+v", got)
	}
	if got := k.key('A', false); len(got) != 1 || got[0] != (keyEvent{code: 0x1E}) {
		t.Fatalf("A up: %+v", got)
	}
	// Return and an extended key.
	if got := k.key(0xff0d, true); got[0].code != 0x1C {
		t.Fatalf("Return: %+v", got)
	}
	if got := k.key(0xff51, true); got[0].code != uint16(0x4B|extFlag) {
		t.Fatalf("Left: %+v", got)
	}
	// A character a US keyboard has not: Unicode.
	if got := k.key(0x01000000+'€', true); len(got) != 1 || !got[0].unicode || got[0].code != '€' {
		t.Fatalf("€: %+v", got)
	}
	// A release of a key never pressed sends nothing.
	if got := k.key('z', false); len(got) != 0 {
		t.Fatalf("z up: %+v", got)
	}
}

// FuzzKeyboard: any sequence of key instructions leaves nothing held once
// every key is released, and never panics.
func FuzzKeyboard(f *testing.F) {
	f.Add([]byte{0x41, 1, 0x41, 0, 0xe1, 1, 0x61, 1, 0x61, 0, 0xe1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		k := newKeyboard()
		syms := []uint32{}
		for i := 0; i+1 < len(data); i += 2 {
			sym := uint32(data[i])
			if data[i]&0x80 != 0 {
				sym = 0xff00 | uint32(data[i]) // modifiers and function keys
			}
			k.key(sym, data[i+1]&1 == 1)
			syms = append(syms, sym)
		}
		for _, s := range syms {
			k.key(s, false)
		}
		if len(k.held) != 0 || k.shift != 0 {
			t.Fatalf("held %v, shift %d", k.held, k.shift)
		}
	})
}
