package api

// A small parser for CronJob schedules. It accepts what Kubernetes accepts
// (Kubernetes uses robfig/cron's standard parser): five fields (minute hour
// day-of-month month day-of-week) with lists, ranges, steps, "*" and "?",
// month and weekday names, the descriptors @yearly, @annually, @monthly,
// @weekly, @daily, @midnight, @hourly and @every <duration>, and an optional
// "TZ=<zone> " or "CRON_TZ=<zone> " prefix. Error messages follow robfig's
// wording, since Kubernetes passes them through to the user.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	// Time zones are validated and used for schedules whatever the host has
	// installed in /usr/share/zoneinfo.
	_ "time/tzdata"
)

// CronSchedule is a parsed CronJob schedule.
type CronSchedule struct {
	minute, hour, dom, month, dow uint64 // bit i set: value i matches
	// domAny/dowAny record that a day field was "*" or "?": then only the
	// other day field restricts the day; otherwise either may match (cron's
	// classic OR rule).
	domAny, dowAny bool
	// Location is the schedule's own time zone (from a TZ= prefix), or nil
	// for "the zone of the time passed to Next".
	Location *time.Location
	// every is set for "@every <duration>" schedules.
	every time.Duration
}

type cronField struct {
	name     string
	min, max int
	names    map[string]int
}

var cronFields = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}},
	{name: "day of week", min: 0, max: 6, names: map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}},
}

// ParseCronSchedule parses a CronJob schedule.
func ParseCronSchedule(spec string) (*CronSchedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty spec string")
	}
	s := &CronSchedule{}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		eq := strings.Index(spec, "=")
		sp := strings.IndexAny(spec, " \t")
		if sp < 0 {
			return nil, fmt.Errorf("missing schedule after time zone: %s", spec)
		}
		name := spec[eq+1 : sp]
		loc, err := time.LoadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("provided bad location %s: %v", name, err)
		}
		s.Location = loc
		spec = strings.TrimSpace(spec[sp:])
	}
	if strings.HasPrefix(spec, "@") {
		return s, s.parseDescriptor(spec)
	}
	fields := strings.Fields(spec)
	if len(fields) != len(cronFields) {
		return nil, fmt.Errorf("expected exactly %d fields, found %d: %s", len(cronFields), len(fields), fields)
	}
	sets := []*uint64{&s.minute, &s.hour, &s.dom, &s.month, &s.dow}
	for i, f := range fields {
		bits, any, err := cronFields[i].parse(f)
		if err != nil {
			return nil, err
		}
		*sets[i] = bits
		switch i {
		case 2:
			s.domAny = any
		case 4:
			s.dowAny = any
		}
	}
	return s, nil
}

func (s *CronSchedule) parseDescriptor(d string) error {
	// A descriptor fixes every field; fill them as the equivalent five-field
	// schedule would.
	set := func(minute, hour, dom, month, dow string) {
		s.minute, _, _ = cronFields[0].parse(minute)
		s.hour, _, _ = cronFields[1].parse(hour)
		s.dom, s.domAny, _ = cronFields[2].parse(dom)
		s.month, _, _ = cronFields[3].parse(month)
		s.dow, s.dowAny, _ = cronFields[4].parse(dow)
	}
	switch d {
	case "@yearly", "@annually":
		set("0", "0", "1", "1", "*")
	case "@monthly":
		set("0", "0", "1", "*", "*")
	case "@weekly":
		set("0", "0", "*", "*", "0")
	case "@daily", "@midnight":
		set("0", "0", "*", "*", "*")
	case "@hourly":
		set("0", "*", "*", "*", "*")
	default:
		const every = "@every "
		if !strings.HasPrefix(d, every) {
			return fmt.Errorf("unrecognized descriptor: %s", d)
		}
		dur, err := time.ParseDuration(strings.TrimSpace(d[len(every):]))
		if err != nil {
			return fmt.Errorf("failed to parse duration %s: %s", d, err)
		}
		if dur < time.Second {
			dur = time.Second // robfig rounds sub-second delays up to a second
		}
		s.every = dur - dur%time.Second
	}
	return nil
}

// parse reads one field: a comma-separated list of "*", "?", N, N-M, each
// optionally followed by /step. any reports a bare "*" or "?".
func (f cronField) parse(expr string) (bits uint64, any bool, err error) {
	for _, part := range strings.Split(expr, ",") {
		b, a, err := f.parseRange(part)
		if err != nil {
			return 0, false, err
		}
		bits |= b
		any = any || a
	}
	return bits, any, nil
}

func (f cronField) parseRange(expr string) (uint64, bool, error) {
	rangeAndStep := strings.Split(expr, "/")
	lowHigh := strings.Split(rangeAndStep[0], "-")
	var start, end int
	any := false
	if lowHigh[0] == "*" || lowHigh[0] == "?" {
		// Like robfig/cron, whatever follows "*-" is ignored.
		start, end, any = f.min, f.max, true
	} else {
		var err error
		if start, err = f.value(lowHigh[0]); err != nil {
			return 0, false, err
		}
		switch len(lowHigh) {
		case 1:
			end = start
		case 2:
			if end, err = f.value(lowHigh[1]); err != nil {
				return 0, false, err
			}
		default:
			return 0, false, fmt.Errorf("too many hyphens: %s", expr)
		}
	}
	step := 1
	switch len(rangeAndStep) {
	case 1:
	case 2:
		var err error
		if step, err = parseCronInt(rangeAndStep[1]); err != nil {
			return 0, false, err
		}
		// "N/step" means from N to the end of the range.
		if len(lowHigh) == 1 {
			end = f.max
		}
		if step > 1 {
			any = false
		}
	default:
		return 0, false, fmt.Errorf("too many slashes: %s", expr)
	}
	switch {
	case start < f.min:
		return 0, false, fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, f.min, expr)
	case end > f.max:
		return 0, false, fmt.Errorf("end of range (%d) above maximum (%d): %s", end, f.max, expr)
	case start > end:
		return 0, false, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return 0, false, fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	var bits uint64
	for v := start; v <= end; v += step {
		bits |= 1 << uint(v)
	}
	return bits, any, nil
}

func (f cronField) value(s string) (int, error) {
	if f.names != nil {
		if v, ok := f.names[strings.ToLower(s)]; ok {
			return v, nil
		}
	}
	return parseCronInt(s)
}

func parseCronInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", s, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, s)
	}
	return n, nil
}

func (s *CronSchedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.domAny || s.dowAny {
		return dom && dow
	}
	return dom || dow
}

// Next returns the first time after t the schedule fires, in the schedule's
// time zone (or t's), or the zero time if it never fires in the next five
// years (for example "0 0 30 2 *").
func (s *CronSchedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		return t.Add(s.every - time.Duration(t.Nanosecond()))
	}
	loc := s.Location
	if loc == nil {
		loc = t.Location()
	}
	t = t.In(loc).Truncate(time.Minute).Add(time.Minute)
	limit := t.Year() + 5
	for t.Year() <= limit {
		prev := t
		switch {
		case s.month&(1<<uint(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
		case !s.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		case s.hour&(1<<uint(t.Hour())) == 0:
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
		case s.minute&(1<<uint(t.Minute())) == 0:
			t = t.Add(time.Minute)
		default:
			return t
		}
		// Wall-clock arithmetic can stand still across a daylight-saving
		// change; always move forward.
		if !t.After(prev) {
			t = prev.Truncate(time.Hour).Add(time.Hour)
		}
	}
	return time.Time{}
}
