"""F5 BIG-IP: two render targets (tmsh, AS3) and two push methods (imperative iControl REST, AS3) from one list
of desired objects (want), compared with what the device has (have, diff).

want        the F5 objects the Plan asks for          irule    the routing iRule of an L7 virtual
tmsh        the f5-tmsh target (f5/lbsync.tmsh)        as3      the f5-as3 target (f5/as3.json, the declaration)
have, diff  the device's objects; per-attribute diff   device   safety threshold, file installs, results
push        the imperative method (f5-sdk transaction) as3push  the AS3 method (POST the declaration)
connection  iControl REST login, TLS, retries          upload   certificate/key upload, install, delete
files, material, names, sdk: the certificate files, the loaded certificate, shared names, the f5-sdk module.
pushers     the registry of push methods (--method)
"""
