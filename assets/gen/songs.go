package main

// album is the album tag of every demo track.
const album = "Tandem Demo Tapes"

// song is one demo track: its tags, its file format and its score.
type song struct {
	file          string // file name without extension
	title, artist string
	format        string  // "wav" (mono, 16-bit) or "flac" (stereo, 16-bit)
	rate          int     // Hz
	cutoff        float64 // Hz of the final low-pass; 0 for none
	seed          uint32  // noise seed
	bpm           float64
	bars, meter   int     // bars, and beats per bar
	tail          float64 // seconds after the last bar
	delay         float64 // echo time in beats
	feedback, wet float64 // echo feedback and level
	score         func(m *mix, at func(bar int, beat float64) float64, beat float64)
}

// seconds returns the song's length.
func (s song) seconds() float64 {
	return float64(s.bars*s.meter)*60/s.bpm + s.tail
}

// songs is the demo library, in file-name order.
func songs() []song {
	return []song{
		{
			file: "attic-radio", title: "Attic Radio", artist: "Fern Delacroix",
			format: "wav", rate: 22050, seed: 0x5eed0006,
			bpm: 90, bars: 6, meter: 4, tail: 1.8,
			delay: 0.75, feedback: 0.3, wet: 0.3,
			score: atticRadio,
		},
		{
			file: "copper-kettle-waltz", title: "Copper Kettle Waltz", artist: "Mabel & the Metronomes",
			format: "wav", rate: 22050, seed: 0x5eed0004,
			bpm: 138, bars: 12, meter: 3, tail: 1.8,
			delay: 1, feedback: 0.2, wet: 0.2,
			score: copperKettleWaltz,
		},
		{
			file: "low-tide-lullaby", title: "Low Tide Lullaby", artist: "Harbor Static",
			format: "wav", rate: 22050, seed: 0x5eed0005,
			bpm: 66, bars: 4, meter: 4, tail: 3,
			delay: 0.75, feedback: 0.35, wet: 0.35,
			score: lowTideLullaby,
		},
		{
			file: "morning-tram", title: "Morning Tram", artist: "Lumen Avenue",
			format: "flac", rate: 44100, cutoff: 10000, seed: 0x5eed0001,
			bpm: 96, bars: 8, meter: 4, tail: 2,
			delay: 0.75, feedback: 0.3, wet: 0.3,
			score: morningTram,
		},
		{
			file: "neon-bicycle", title: "Neon Bicycle", artist: "Kilo Marlow",
			format: "flac", rate: 44100, cutoff: 10000, seed: 0x5eed0003,
			bpm: 118, bars: 10, meter: 4, tail: 1.5,
			delay: 0.75, feedback: 0.35, wet: 0.35,
			score: neonBicycle,
		},
		{
			file: "paper-lanterns", title: "Paper Lanterns", artist: "The Quiet Orchard",
			format: "flac", rate: 44100, cutoff: 10000, seed: 0x5eed0002,
			bpm: 72, bars: 6, meter: 4, tail: 2.5,
			delay: 0.5, feedback: 0.4, wet: 0.35,
			score: paperLanterns,
		},
	}
}

// chord is a voicing: a bass root and the chord tones above it.
type chord struct {
	root  int
	tones []int
}

// morningTram: a bright C major groove with electric piano, a bell
// arpeggio, bass and light drums.
func morningTram(m *mix, at func(int, float64) float64, beat float64) {
	prog := []chord{
		{36, []int{52, 55, 59, 60}}, // Cmaj7
		{45, []int{52, 55, 57, 60}}, // Am7
		{41, []int{52, 57, 60, 64}}, // Fmaj7
		{43, []int{50, 55, 59, 64}}, // G6
		{36, []int{52, 55, 59, 60}}, // Cmaj7
		{45, []int{52, 55, 57, 60}}, // Am7
		{38, []int{53, 57, 60, 62}}, // Dm7
		{43, []int{53, 55, 59, 62}}, // G7
	}
	arp := []int{0, 1, 2, 3, 2, 1, 2, 3}
	for bar, c := range prog {
		for _, hit := range [][2]float64{{0, 1.4}, {1.5, 0.4}, {2.5, 1.4}} {
			for _, n := range c.tones {
				m.ep(at(bar, hit[0]), hit[1]*beat, n, 0.13, 0, 0.1)
			}
		}
		for i, k := range arp {
			pan := 0.4
			if i%2 == 1 {
				pan = -0.4
			}
			m.bell(at(bar, float64(i)/2), c.tones[k]+24, 0.09, pan, 0.5, 0.5)
		}
		m.bass(at(bar, 0), 1.4*beat, c.root, 0.5)
		m.bass(at(bar, 1.5), 0.4*beat, c.root, 0.4)
		m.bass(at(bar, 2.5), 0.9*beat, c.root+7, 0.4)
		m.bass(at(bar, 3.5), 0.4*beat, c.root+12, 0.35)
		if bar == 0 {
			continue
		}
		m.kick(at(bar, 0), 0.7)
		m.kick(at(bar, 2.5), 0.6)
		m.snare(at(bar, 1), 0.35, 0.1)
		m.snare(at(bar, 3), 0.35, 0.1)
		for i := 0; i < 8; i++ {
			v := 0.12
			if i%2 == 1 {
				v = 0.07
			}
			m.hat(at(bar, float64(i)/2), v, 0.3, 0.03)
		}
	}
	end := at(len(prog), 0)
	for _, n := range []int{52, 55, 59, 62, 64} { // Cmaj9
		m.ep(end, 1.5, n, 0.13, 0, 0.2)
	}
	m.bass(end, 1.5, 36, 0.5)
	m.bell(end, 79, 0.1, 0.3, 0.6, 0.8)
}

// paperLanterns: a slow D minor pad with a plucked arpeggio and a soft
// shaker.
func paperLanterns(m *mix, at func(int, float64) float64, beat float64) {
	prog := []chord{
		{38, []int{57, 60, 64, 65}}, // Dm9
		{34, []int{57, 58, 62, 65}}, // Bbmaj7
		{41, []int{57, 60, 65, 67}}, // Fadd9
		{36, []int{55, 60, 64, 67}}, // C
		{43, []int{58, 62, 65, 67}}, // Gm7
		{45, []int{57, 61, 64, 69}}, // A
	}
	up := []int{0, 1, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1, 2, 3}
	for bar, c := range prog {
		for i, n := range c.tones {
			m.pad(at(bar, 0), 4*beat, n, 0.07, float64(i)/2-0.75, 0.2, 1100)
		}
		m.bass(at(bar, 0), 3.8*beat, c.root, 0.4)
		for i, k := range up {
			n := c.tones[k%4] + 12*(k/4) + 12
			pan := 0.5
			if i%2 == 1 {
				pan = -0.5
			}
			m.marimba(at(bar, float64(i)/4), n, 0.11, pan, 0.6)
		}
		if bar == 0 {
			continue
		}
		for i := 0; i < 4; i++ {
			m.shaker(at(bar, float64(i)+0.5), 0.18, -0.3)
		}
	}
	end := at(len(prog), 0)
	for i, n := range []int{57, 62, 65, 69} { // Dm
		m.pad(end, 1.2, n, 0.07, float64(i)/2-0.75, 0.3, 900)
	}
	m.bass(end, 1.5, 38, 0.4)
	m.bell(end, 74, 0.1, 0, 0.6, 0.9)
}

// neonBicycle: an A minor synth-pop ride with saw bass, a saw arpeggio and
// four-on-the-floor drums.
func neonBicycle(m *mix, at func(int, float64) float64, beat float64) {
	prog := []chord{
		{45, []int{57, 60, 64}}, // Am
		{41, []int{57, 60, 65}}, // F
		{36, []int{55, 60, 64}}, // C
		{43, []int{55, 59, 62}}, // G
	}
	arp := []int{0, 1, 2, 1, 0, 1, 2, 3}
	for bar := 0; bar < 10; bar++ {
		c := prog[bar%len(prog)]
		for i, n := range c.tones {
			m.pad(at(bar, 0), 4*beat, n, 0.05, float64(i)-1, 0.1, 1600)
		}
		for i := 0; i < 8; i++ {
			n := c.root - 12
			if i%4 == 2 {
				n += 12
			}
			m.sawBass(at(bar, float64(i)/2), 0.42*beat, n+12, 0.32)
		}
		if bar >= 1 {
			for i := 0; i < 16; i++ {
				k := arp[i%len(arp)]
				n := c.tones[k%3] + 12*(k/3) + 12
				m.lead(at(bar, float64(i)/4), 0.2*beat, n, 0.1, 0.35, 0.5)
			}
		}
		if bar < 2 {
			continue
		}
		for b := 0; b < 4; b++ {
			m.kick(at(bar, float64(b)), 0.7)
			m.hat(at(bar, float64(b)+0.5), 0.12, -0.3, 0.05)
		}
		m.snare(at(bar, 1), 0.4, 0)
		m.snare(at(bar, 3), 0.4, 0)
	}
	end := at(10, 0)
	for i, n := range []int{57, 60, 64, 69} { // Am
		m.pad(end, 1, n, 0.05, float64(i)/1.5-1, 0.3, 1400)
	}
	m.kick(end, 0.7)
	m.sawBass(end, 0.8, 45, 0.32)
}

// copperKettleWaltz: a G major waltz, oom-pah-pah with a marimba tune.
func copperKettleWaltz(m *mix, at func(int, float64) float64, beat float64) {
	type note struct {
		beat float64
		n    int
	}
	G := chord{43, []int{55, 59, 62}}
	Em := chord{40, []int{55, 59, 64}}
	C := chord{36, []int{55, 60, 64}}
	D := chord{38, []int{54, 57, 62}}
	prog := []chord{G, G, Em, Em, C, C, D, D, G, Em, C, D}
	tune := [][]note{
		{{0, 67}, {1, 71}, {2, 74}},
		{{0, 79}, {2, 78}},
		{{0, 76}, {1, 71}, {2, 67}},
		{{0, 71}},
		{{0, 72}, {1, 76}, {2, 79}},
		{{0, 76}, {2, 72}},
		{{0, 74}, {1, 78}, {2, 81}},
		{{0, 78}, {1.5, 76}, {2, 74}},
		{{0, 79}, {1, 74}, {2, 71}},
		{{0, 76}, {1, 71}, {2, 67}},
		{{0, 72}, {1, 76}, {2, 74}},
		{{0, 72}, {1, 69}, {2, 66}},
	}
	for bar, c := range prog {
		root := c.root
		if bar%2 == 1 {
			root += 7
		}
		m.bass(at(bar, 0), 0.8*beat, root, 0.45)
		for _, b := range []float64{1, 2} {
			for _, n := range c.tones {
				m.ep(at(bar, b), 0.5*beat, n, 0.07, 0, 0)
			}
		}
		for _, nt := range tune[bar] {
			m.marimba(at(bar, nt.beat), nt.n, 0.3, 0, 0.3)
			m.marimba(at(bar, nt.beat), nt.n+12, 0.06, 0, 0.3)
		}
	}
	end := at(len(prog), 0)
	m.bass(end, 1.2, 43, 0.45)
	for _, n := range []int{55, 59, 62, 67} {
		m.ep(end, 1.2, n, 0.07, 0, 0.2)
	}
	m.marimba(end, 79, 0.3, 0, 0.3)
}

// lowTideLullaby: a music box over a warm pad and the sound of surf.
func lowTideLullaby(m *mix, at func(int, float64) float64, beat float64) {
	type note struct {
		beat float64
		n    int
	}
	prog := []chord{
		{41, []int{53, 57, 60}}, // F
		{45, []int{52, 57, 60}}, // Am
		{46, []int{50, 53, 58}}, // Bb
		{48, []int{52, 55, 60}}, // C
	}
	tune := [][]note{
		{{0, 72}, {1, 77}, {1.5, 76}, {2, 72}, {3, 69}},
		{{0, 69}, {1, 72}, {1.5, 76}, {2, 81}, {3, 79}},
		{{0, 77}, {1, 74}, {1.5, 70}, {2, 74}, {3, 77}},
		{{0, 76}, {1, 72}, {2, 79}, {3, 76}},
	}
	m.waves(0.25, 7)
	for bar, c := range prog {
		for _, n := range c.tones {
			m.pad(at(bar, 0), 4*beat, n, 0.08, 0, 0.1, 700)
		}
		m.bass(at(bar, 0), 3.6*beat, c.root-12, 0.25)
		for _, nt := range tune[bar] {
			m.bell(at(bar, nt.beat), nt.n+12, 0.18, 0, 0.5, 0.6)
		}
	}
	end := at(len(prog), 0)
	for _, n := range []int{53, 57, 60, 65} {
		m.pad(end, 1.5, n, 0.08, 0, 0.2, 600)
	}
	m.bass(end, 2, 29, 0.25)
	for i, n := range []int{77, 81, 84, 89} {
		m.bell(end+float64(i)*beat/4, n, 0.15, 0, 0.5, 0.8)
	}
}

// atticRadio: a lo-fi E flat major loop with swung drums and crackle.
func atticRadio(m *mix, at func(int, float64) float64, beat float64) {
	prog := []chord{
		{39, []int{55, 58, 62, 63}}, // Ebmaj7
		{36, []int{55, 58, 60, 63}}, // Cm7
		{44, []int{55, 56, 60, 63}}, // Abmaj7
		{46, []int{53, 56, 58, 62}}, // Bb7
		{44, []int{55, 56, 60, 63}}, // Abmaj7
		{46, []int{53, 56, 58, 62}}, // Bb7
	}
	const swing = 0.62 // where the off-beat eighth falls, in beats
	m.crackle(0.25)
	for bar, c := range prog {
		for _, hit := range [][2]float64{{0, 1.5}, {1 + swing, 0.3}, {2.5, 1.3}} {
			for i, n := range c.tones {
				// A slight strum: each tone a little later.
				m.ep(at(bar, hit[0])+float64(i)*0.012, hit[1]*beat, n, 0.11, 0, 0.25)
			}
		}
		m.bass(at(bar, 0), 1.3*beat, c.root, 0.5)
		m.bass(at(bar, 2+swing), 0.3*beat, c.root, 0.35)
		m.bass(at(bar, 3), 0.8*beat, c.root+7, 0.4)
		m.kick(at(bar, 0), 0.7)
		m.kick(at(bar, 1+swing), 0.45)
		m.kick(at(bar, 2.5), 0.6)
		m.snare(at(bar, 1), 0.4, 0)
		m.snare(at(bar, 3), 0.4, 0)
		for b := 0; b < 4; b++ {
			m.hat(at(bar, float64(b)), 0.1, 0, 0.025)
			m.hat(at(bar, float64(b)+swing), 0.06, 0, 0.025)
		}
	}
	end := at(len(prog), 0)
	for i, n := range []int{55, 58, 62, 63, 65} { // Ebmaj9
		m.ep(end+float64(i)*0.03, 1.6, n, 0.11, 0, 0.3)
	}
	m.bass(end, 1.6, 39, 0.5)
}
