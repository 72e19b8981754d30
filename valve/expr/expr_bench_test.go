package expr

import "testing"

func BenchmarkEval(b *testing.B) {
	for _, src := range []string{
		"user.id == $sellerId",
		"data.price > oldData.price",
		"user.data.canBid && data.title == 'lamp' && name startsWith 'auction/'",
		"now > 0 && user.isAuthenticated",
		"_('settings/' + user.id).editable",
	} {
		b.Run(src, func(b *testing.B) {
			p := mustCompile(b, src, writeCfg)
			in := baseInput()
			b.ReportAllocs()
			for b.Loop() {
				ok, err := p.Eval(in, testCaps)
				if !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
