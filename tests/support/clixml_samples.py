"""PowerShell CLIXML samples (Export-Clixml) in the shape of Microsoft's real ones, for the CLIXML reader's tests
and the audit's: the object layout of CSS-Exchange's Diagnostics/HealthChecker/Tests/DataCollection/E19/Exchange/
GetOwaVirtualDirectory.xml and GetWebServicesVirtualDirectory.xml; no real Get-OutlookAnywhere capture was found,
so its property types come from the ADRpcHttpVirtualDirectory class (see tests/audit/test_clixml.py)."""

from __future__ import annotations

from lbsync.audit.clixml import NS

OBJS = f'<Objs Version="1.1.0.1" xmlns="{NS}">'
BLOB = "bm90IE1pY3Jvc29mdCdzIGRhdGE6IGEgc3RhbmQtaW4gZm9yIHRoZSBCaW5hcnlGb3JtYXR0ZXIgYmxvYg=="  # a stand-in, base64


def clixml(body: str) -> str:
    """A CLIXML document around `body`, laid out as Export-Clixml writes it (BOM, no XML declaration)."""
    return f"\ufeff{OBJS}\n{body}\n</Objs>"


ADOBJECTID_MS = f'<MS>\n          <BA N="SerializationData">{BLOB}</BA>\n        </MS>'
ORG = ("CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=Contoso,"
       "CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com")
TYPES = {
    0: ("Microsoft.Exchange.Data.Directory.SystemConfiguration.ADRpcHttpVirtualDirectory",
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.ExchangeVirtualDirectory",
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADVirtualDirectory",
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADConfigurationObject",
        "Microsoft.Exchange.Data.Directory.ADObject", "Microsoft.Exchange.Data.Directory.ADRawEntry",
        "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"),
    1: ("Microsoft.Exchange.Data.Hostname", "System.Object"),
    2: ("Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthenticationMethod", "System.Enum",
        "System.ValueType", "System.Object"),
    3: ("Microsoft.Exchange.Data.Directory.ADMultiValuedProperty`1[[Microsoft.Exchange.Data.Directory."
        "SystemConfiguration.AuthenticationMethod, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, "
        "Culture=neutral, PublicKeyToken=31bf3856ad364e35]]", "Microsoft.Exchange.Data.MultiValuedPropertyBase",
        "System.Object"),
    4: ("Microsoft.Exchange.Data.Directory.ADObjectId", "Microsoft.Exchange.Data.ObjectId", "System.Object"),
    5: ("Microsoft.Exchange.Data.ObjectState", "System.Enum", "System.ValueType", "System.Object"),
}


class Writer:
    """Writes objects the way one Export-Clixml serialiser does: RefIds in document order across the whole file,
    each type name list written once as <TN> and referred to by <TNRef> afterwards."""

    def __init__(self):
        self.next_ref = 0
        self.written: set[int] = set()

    def ref(self) -> int:
        self.next_ref += 1
        return self.next_ref - 1

    def tn(self, key: int, indent: str = "        ") -> str:
        if key in self.written:
            return f'<TNRef RefId="{key}" />'
        self.written.add(key)
        inner = "".join(f"\n{indent}  <T>{t}</T>" for t in TYPES[key])
        return f'<TN RefId="{key}">{inner}\n{indent}</TN>'

    def enum(self, name: str | None, text: str, number: int, key: int = 2, indent: str = "      ") -> str:
        n = f' N="{name}"' if name else ""
        return (f'<Obj{n} RefId="{self.ref()}">\n{indent}  {self.tn(key, indent + "  ")}\n'
                f"{indent}  <ToString>{text}</ToString>\n{indent}  <I32>{number}</I32>\n{indent}</Obj>")

    def hostname(self, name: str, host: str) -> str:
        return (f'<Obj N="{name}" RefId="{self.ref()}">\n        {self.tn(1)}\n        <ToString>{host}</ToString>\n'
                f"        {ADOBJECTID_MS}\n      </Obj>")

    def adobjectid(self, name: str, tostring: str, parent: str, depth: int, dn: str, guid: str) -> str:
        leaf = tostring.rpartition(chr(92))[2]
        return f"""<Obj N="{name}" RefId="{self.ref()}">
        {self.tn(4)}
        <ToString>{tostring}</ToString>
        <Props>
          <Nil N="OrgHierarchyToIgnore" />
          <B N="IsDeleted">false</B>
          <S N="Rdn">CN={leaf}</S>
          <S N="Parent">{parent}</S>
          <I32 N="Depth">{depth}</I32>
          <S N="DistinguishedName">{dn}</S>
          <B N="IsRelativeDn">false</B>
          <S N="DomainId">contoso.com</S>
          <G N="PartitionGuid">00000000-0000-0000-0000-000000000000</G>
          <S N="PartitionFQDN">contoso.com</S>
          <G N="ObjectGuid">{guid}</G>
          <S N="Name">{leaf}</S>
        </Props>
        {ADOBJECTID_MS}
      </Obj>"""

    def outlook_anywhere(self, server: str, offloading: bool, internal_host: str | None) -> str:
        """One ADRpcHttpVirtualDirectory (Get-OutlookAnywhere) as Export-Clixml writes it."""
        vdir = "Rpc (Default Web Site)"
        ident = f"{server}\\{vdir}"
        identity_ref = None

        def identity() -> str:
            nonlocal identity_ref
            identity_ref = self.next_ref
            return self.adobjectid("Identity", ident, "HTTP", 12,
                                   f"CN={vdir},CN=HTTP,CN=Protocols,CN={server},CN=Servers,{ORG}",
                                   f"d573fddb-ffb1-45ae-ad3a-af8d490a5c{identity_ref:02d}")

        # f-string parts are evaluated left to right, so RefIds come out in document order
        return f"""  <Obj RefId="{self.ref()}">
    {self.tn(0, "    ")}
    <ToString>{ident}</ToString>
    <Props>
      <S N="ServerName">{server}</S>
      <B N="SSLOffloading">{str(offloading).lower()}</B>
      {self.hostname("ExternalHostname", "mail.contoso.com")}
      {self.hostname("InternalHostname", internal_host) if internal_host else '<Nil N="InternalHostname" />'}
      <B N="ExternalClientsRequireSsl">true</B>
      <B N="InternalClientsRequireSsl">false</B>
      {self.enum("ExternalClientAuthenticationMethod", "Negotiate", 13)}
      {self.enum("InternalClientAuthenticationMethod", "Ntlm", 2)}
      <Obj N="IISAuthenticationMethods" RefId="{self.ref()}">
        {self.tn(3)}
        <LST>
          {self.enum(None, "Basic", 0, indent="          ")}
          {self.enum(None, "Ntlm", 2, indent="          ")}
          {self.enum(None, "Negotiate", 13, indent="          ")}
        </LST>
      </Obj>
      <Nil N="XropUrl" />
      <S N="MetabasePath">IIS://{server}.contoso.com/W3SVC/1/ROOT/Rpc</S>
      <S N="Path">C:\\Program Files\\Microsoft\\Exchange Server\\V15\\FrontEnd\\HttpProxy\\rpc</S>
      <S N="Name">{vdir}</S>
      {self.adobjectid("Server", server, "Servers", 9, f"CN={server},CN=Servers,{ORG}",
                       "00000000-0000-0000-0000-000000000000")}
      <S N="AdminDisplayName"></S>
      <S N="DistinguishedName">CN={vdir},CN=HTTP,CN=Protocols,CN={server},CN=Servers,{ORG}</S>
      {identity()}
      <DT N="WhenChanged">2020-06-30T13:53:39-07:00</DT>
      <DT N="WhenChangedUTC">2020-06-30T20:53:39Z</DT>
      <Ref N="Id" RefId="{identity_ref}" />
      <S N="OriginatingServer">DC01.contoso.com</S>
      <B N="IsValid">true</B>
      {self.enum("ObjectState", "Unchanged", 0, key=5)}
    </Props>
    <MS>
      <S N="PSComputerName">{server.lower()}.contoso.com</S>
      <G N="RunspaceId">4f1d6ed3-81ee-4120-9d38-b803867135e5</G>
      <B N="PSShowComputerName">false</B>
      <BA N="SerializationData">{BLOB}</BA>
    </MS>
  </Obj>"""


_writer = Writer()
OA_TEXT = clixml(_writer.outlook_anywhere("EX01", True, None) + "\n"
                 + _writer.outlook_anywhere("EX02", False, "ex02.contoso.com"))
