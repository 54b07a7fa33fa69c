package cache

import "testing"

func TestRankOrder(t *testing.T) {
	// Each rank must compare below every later one.
	order := []Rank{
		RankAnswerAuth.WithSecurity(SecurityBogus),
		RankAdditionalGlue,
		RankAuthorityReferral.WithSecurity(SecurityInsecure),
		RankAnswerNonAuth,
		RankAuthorityAuth.WithSecurity(SecurityIndeterminate),
		RankAnswerAuth,
		RankZone,
		RankAdditionalGlue.WithSecurity(SecuritySecure),
		RankAnswerAuth.WithSecurity(SecuritySecure),
	}
	for i := range order {
		for j := range order {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := order[i].Compare(order[j]); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	// Insecure, unchecked and indeterminate data of one trust level are
	// equally credible: none of them is evidence either way.
	a := RankAnswerAuth.WithSecurity(SecurityInsecure)
	b := RankAnswerAuth.WithSecurity(SecurityIndeterminate)
	if a.Compare(b) != 0 || a.Compare(RankAnswerAuth) != 0 {
		t.Errorf("insecure/indeterminate/unchecked should compare equal")
	}
}

func TestRankFields(t *testing.T) {
	r := RankAuthorityAuth.WithSecurity(SecuritySecure)
	if r.Trust() != RankAuthorityAuth || r.Security() != SecuritySecure || !r.Secure() || !r.Valid() {
		t.Errorf("fields of %v wrong", r)
	}
	if got := r.String(); got != "authority-auth/secure" {
		t.Errorf("String = %q", got)
	}
	if got := r.WithSecurity(SecurityBogus).String(); got != "authority-auth/bogus" {
		t.Errorf("String = %q", got)
	}
	for _, bad := range []Rank{RankNone, RankZone + 1, RankAnswerAuth | 0xf0} {
		if bad.Valid() {
			t.Errorf("%v should be invalid", bad)
		}
	}
	if got := Rank(0x9f).String(); got != "trust(15)/security(9)" {
		t.Errorf("String = %q", got)
	}
}
