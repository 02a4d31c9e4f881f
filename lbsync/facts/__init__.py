"""Facts as data: what Exchange, TLS and the load balancers are, with their sources. Imports nothing of lbsync.

catalog      Exchange's virtual directories, IIS locations, app pools, health pages, defaults, versions
coexistence  Exchange 2007/2010 server groups and how 2013+ sends their clients to them
lb           per version and protocol: TLS modes, persistence, TLS floor toward the servers, sizes, balancing
sslflags     IIS sslFlags values: parse and format
tls          client-side TLS profiles (Mozilla), the default trust store and floor toward the servers
vdirauth     how the Exchange cmdlets report what a virtual directory accepts
httpsys      HTTP.sys request-head limits (MaxFieldLength, MaxRequestBytes): registry, defaults, ranges, restart
codes        every finding code lbsync reports (the vocabulary of the model's allow: and of the rules)
"""
