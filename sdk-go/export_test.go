package eddy

// StartExampleServer starts the fake server for the package's examples and
// returns its raw TCP address and a function that stops it.
func StartExampleServer() (addr string, stop func(), err error) {
	s, err := newFakeServer()
	if err != nil {
		return "", nil, err
	}
	return s.TCP, s.Close, nil
}
