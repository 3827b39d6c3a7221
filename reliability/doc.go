// Package reliability holds the reliability and security suite of
// sessionplus: faults on real backend servers, load and concurrency, bad
// input and attacks. It has no API; everything is in its tests. See
// RELIABILITY.md at the module root for what each test shows, the command
// that runs it and its figures.
package reliability
