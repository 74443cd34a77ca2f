module tcpkit.bench/echo

go 1.19
