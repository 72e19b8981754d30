package expr

import (
	"reflect"
	"strconv"
	"unsafe"

	"github.com/eddy-realtime/eddy/valve/syntax"
)

// MaxPaths is the largest number of distinct constant member chains on
// data, oldData and user.data (`data.price`, `user.data.roles`) one
// expression may use.
const MaxPaths = 32

// Slot numbers. The expression environment is a struct whose field i is
// slot i; expressions are rewritten to name slots by their expr tag.
const (
	slotUID    = iota                          // $uid     user.id          string
	slotAuth                                   // $uauth   user.isAuthenticated bool
	slotName                                   // $name    name             string
	slotAction                                 // $action  action           string
	slotNow                                    // $now     now              int
	slotCtx                                    // $ctx     per-Eval state   *evalCtx
	slotCap0                                   // $c0..    pattern captures string
	slotPath0  = slotCap0 + syntax.MaxCaptures // $p0.. path values any
	numSlots   = slotPath0 + MaxPaths
)

// Names the rewritten expressions use. They start with '$' followed by a
// letter, so a rule author cannot write them: every '$' name in the source is
// resolved as a capture first.
const (
	nameUID    = "$uid"
	nameAuth   = "$uauth"
	nameName   = "$name"
	nameAction = "$action"
	nameNow    = "$now"
	nameCtx    = "$ctx"
	nameRead   = "$read"
)

func capName(i int) string  { return "$c" + strconv.Itoa(i) }
func pathName(i int) string { return "$p" + strconv.Itoa(i) }

// compileEnv is the type the checker sees: typed slots, so `user.id > 1` is
// rejected at load time. runtimeEnv has the same fields, all of type any,
// laid out exactly like a [numSlots]any. Compiled bytecode addresses fields
// by index only, so a program checked against compileEnv runs against
// runtimeEnv; init verifies the layouts agree.
var compileEnv, runtimeEnv = buildEnvTypes()

func buildEnvTypes() (reflect.Value, reflect.Type) {
	anyT := reflect.TypeFor[any]()
	typed := make([]reflect.StructField, numSlots)
	loose := make([]reflect.StructField, numSlots)
	for i := range typed {
		name, t := slotInfo(i)
		typed[i] = reflect.StructField{
			Name: "S" + strconv.Itoa(i),
			Type: t,
			Tag:  reflect.StructTag(`expr:"` + name + `"`),
		}
		loose[i] = reflect.StructField{Name: typed[i].Name, Type: anyT, Tag: typed[i].Tag}
	}
	rt := reflect.StructOf(loose)
	var slots [numSlots]any
	if rt.Size() != unsafe.Sizeof(slots) {
		panic("valve/expr: environment layout mismatch")
	}
	for i := 0; i < numSlots; i++ {
		if rt.Field(i).Offset != uintptr(i)*unsafe.Sizeof(slots[0]) {
			panic("valve/expr: environment layout mismatch")
		}
	}
	return reflect.New(reflect.StructOf(typed)).Elem(), rt
}

func slotInfo(i int) (string, reflect.Type) {
	str, anyT := reflect.TypeFor[string](), reflect.TypeFor[any]()
	switch {
	case i == slotUID:
		return nameUID, str
	case i == slotAuth:
		return nameAuth, reflect.TypeFor[bool]()
	case i == slotName:
		return nameName, str
	case i == slotAction:
		return nameAction, str
	case i == slotNow:
		return nameNow, reflect.TypeFor[int]()
	case i == slotCtx:
		return nameCtx, anyT
	case i < slotPath0:
		return capName(i - slotCap0), str
	}
	return pathName(i - slotPath0), anyT
}

// eface is the runtime layout of an empty interface.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// boxAt returns an interface value of dynamic type T whose data word points
// at *p, so later stores to *p change what the interface holds. Go treats
// the data behind an interface as immutable: such a value must never escape
// the owner of *p. Here the owner is a pooled env; every box stays inside it
// and the bytecode run, and slots are reset before the env is reused.
func boxAt[T string | bool | int | float64](p *T) any {
	var zero T
	v := any(zero)
	(*eface)(unsafe.Pointer(&v)).data = unsafe.Pointer(p)
	return v
}
