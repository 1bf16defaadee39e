package devserver

// InternalPorts are the ports of the services only the server's own may
// reach (history, matching, the worker and, with authorization, the
// internal frontend).
func (s *Server) InternalPorts() []int { return s.picked[1:] }
