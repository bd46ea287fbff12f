module edgeplay.test/gohello

go 1.24
