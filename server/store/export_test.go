package store

// Pipelined returns how many insertions w sent as one pipeline.
func (w *Writer) Pipelined() int64 { return w.pipelined.Load() }
