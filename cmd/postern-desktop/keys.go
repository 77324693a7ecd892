package main

// RDP keyboard input from X11 keysyms (what guacamole-common-js sends).
// Keys without a character (Return, arrows, modifiers, F-keys, keypad) go
// as scancodes from a table; printable characters go as the scancode of a
// US keyboard with Shift adjusted (so Ctrl+C and friends work and servers
// without Unicode input, such as FreeRDP's shadow server, still type), and
// characters a US keyboard has no key for as Unicode keyboard events.

// scancode is an RDP (set 1) scancode; extended keys carry extFlag.
type scancode uint16

const extFlag scancode = 0x100

// keyEvent is one RDP keyboard event to send.
type keyEvent struct {
	unicode bool
	code    uint16 // a scancode (with extFlag) or a UTF-16 code unit
	down    bool
}

const (
	scShiftL scancode = 0x2A
	scShiftR scancode = 0x36
	scCtrl   scancode = 0x1D
	scAlt    scancode = 0x38
)

var keysymScancodes = map[uint32]scancode{
	0xff08: 0x0E,           // BackSpace
	0xff09: 0x0F,           // Tab
	0xff0d: 0x1C,           // Return
	0xff1b: 0x01,           // Escape
	0xff50: 0x47 | extFlag, // Home
	0xff51: 0x4B | extFlag, // Left
	0xff52: 0x48 | extFlag, // Up
	0xff53: 0x4D | extFlag, // Right
	0xff54: 0x50 | extFlag, // Down
	0xff55: 0x49 | extFlag, // Page_Up
	0xff56: 0x51 | extFlag, // Page_Down
	0xff57: 0x4F | extFlag, // End
	0xff63: 0x52 | extFlag, // Insert
	0xffff: 0x53 | extFlag, // Delete
	0xff61: 0x37 | extFlag, // Print
	0xff14: 0x46,           // Scroll_Lock
	0xff7f: 0x45,           // Num_Lock
	0xffe5: 0x3A,           // Caps_Lock
	0xffe1: scShiftL,
	0xffe2: scShiftR,
	0xffe3: scCtrl,                                                       // Control_L
	0xffe4: scCtrl | extFlag,                                             // Control_R
	0xffe9: scAlt,                                                        // Alt_L
	0xffea: scAlt | extFlag,                                              // Alt_R
	0xfe03: scAlt | extFlag,                                              // ISO_Level3_Shift (AltGr)
	0xffe7: 0x5B | extFlag,                                               // Meta_L
	0xffe8: 0x5C | extFlag,                                               // Meta_R
	0xffeb: 0x5B | extFlag,                                               // Super_L
	0xffec: 0x5C | extFlag,                                               // Super_R
	0xff67: 0x5D | extFlag,                                               // Menu
	0xffbe: 0x3B, 0xffbf: 0x3C, 0xffc0: 0x3D, 0xffc1: 0x3E, 0xffc2: 0x3F, // F1-F5
	0xffc3: 0x40, 0xffc4: 0x41, 0xffc5: 0x42, 0xffc6: 0x43, 0xffc7: 0x44, // F6-F10
	0xffc8: 0x57, 0xffc9: 0x58, // F11, F12
	0xff8d: 0x1C | extFlag,                                               // KP_Enter
	0xffaa: 0x37,                                                         // KP_Multiply
	0xffab: 0x4E,                                                         // KP_Add
	0xffad: 0x4A,                                                         // KP_Subtract
	0xffae: 0x53,                                                         // KP_Decimal
	0xffaf: 0x35 | extFlag,                                               // KP_Divide
	0xffb0: 0x52, 0xffb1: 0x4F, 0xffb2: 0x50, 0xffb3: 0x51, 0xffb4: 0x4B, // KP_0-4
	0xffb5: 0x4C, 0xffb6: 0x4D, 0xffb7: 0x47, 0xffb8: 0x48, 0xffb9: 0x49, // KP_5-9
	0xff95: 0x47, 0xff96: 0x4B, 0xff97: 0x48, 0xff98: 0x4D, 0xff99: 0x50, // KP_Home .. KP_Down
	0xff9a: 0x49, 0xff9b: 0x51, 0xff9c: 0x4F, 0xff9d: 0x4C, 0xff9e: 0x52, 0xff9f: 0x53, // KP_Prior .. KP_Delete
}

// usKey is a character's key on a US keyboard.
type usKey struct {
	sc    scancode
	shift bool
}

var usKeys = func() map[rune]usKey {
	m := map[rune]usKey{' ': {0x39, false}}
	rows := []struct {
		first       scancode
		plain, shft string
	}{
		{0x02, "1234567890-=", "!@#$%^&*()_+"},
		{0x10, "qwertyuiop[]", "QWERTYUIOP{}"},
		{0x1E, "asdfghjkl;'`", "ASDFGHJKL:\"~"},
		{0x2B, `\zxcvbnm,./`, "|ZXCVBNM<>?"},
	}
	for _, row := range rows {
		for i, r := range row.plain {
			m[r] = usKey{row.first + scancode(i), false}
		}
		for i, r := range []rune(row.shft) {
			m[r] = usKey{row.first + scancode(i), true}
		}
	}
	return m
}()

// keysymRune is the character a keysym types, if it types one: Latin-1
// keysyms are their code point, 0x01000000+U is U+U.
func keysymRune(keysym uint32) (rune, bool) {
	switch {
	case keysym >= 0x20 && keysym <= 0x7e, keysym >= 0xa0 && keysym <= 0xff:
		return rune(keysym), true
	case keysym >= 0x01000100 && keysym <= 0x0110ffff:
		return rune(keysym - 0x01000000), true
	}
	return 0, false
}

// keyboard turns key instructions into RDP events, keeping what is held so
// a release undoes exactly what its press did. Used by one goroutine.
type keyboard struct {
	held  map[uint32][]keyEvent // keysym -> the events its press sent
	shift int                   // Shift keys held
}

func newKeyboard() *keyboard { return &keyboard{held: map[uint32][]keyEvent{}} }

// key returns the events for a keysym pressed or released.
func (k *keyboard) key(keysym uint32, pressed bool) []keyEvent {
	if !pressed {
		evs, ok := k.held[keysym]
		if !ok {
			return nil
		}
		delete(k.held, keysym)
		if len(evs) == 1 && !evs[0].unicode && (scancode(evs[0].code) == scShiftL || scancode(evs[0].code) == scShiftR) {
			k.shift--
		}
		// The key's own release; the Shift adjustments around the press
		// were already undone.
		e := mainKey(evs)
		e.down = false
		return []keyEvent{e}
	}
	if evs, ok := k.held[keysym]; ok {
		// Auto-repeat: the key's press again, nothing else changes.
		return []keyEvent{mainKey(evs)}
	}
	var evs []keyEvent
	if sc, ok := keysymScancodes[keysym]; ok {
		evs = []keyEvent{{code: uint16(sc), down: true}}
		if sc == scShiftL || sc == scShiftR {
			k.shift++
		}
	} else if r, ok := keysymRune(keysym); ok {
		if us, ok := usKeys[r]; ok {
			press := keyEvent{code: uint16(us.sc), down: true}
			switch {
			case us.shift && k.shift == 0:
				evs = []keyEvent{{code: uint16(scShiftL), down: true}, press, {code: uint16(scShiftL)}}
			case !us.shift && k.shift > 0:
				evs = []keyEvent{{code: uint16(scShiftL)}, {code: uint16(scShiftR)}, press,
					{code: uint16(scShiftL), down: true}}
			default:
				evs = []keyEvent{press}
			}
		} else if r <= 0xffff {
			evs = []keyEvent{{unicode: true, code: uint16(r), down: true}}
		} else {
			return nil // beyond the BMP: RDP's Unicode events carry one UTF-16 unit
		}
	} else {
		return nil
	}
	k.held[keysym] = evs
	return evs
}

// mainKey is the press among a key's events that is the key itself, not
// a Shift adjustment around it.
func mainKey(evs []keyEvent) keyEvent {
	main := evs[len(evs)-1]
	for _, e := range evs {
		if e.down && !isShift(e) {
			main = e
		}
	}
	return main
}

func isShift(e keyEvent) bool {
	return !e.unicode && (scancode(e.code) == scShiftL || scancode(e.code) == scShiftR)
}
