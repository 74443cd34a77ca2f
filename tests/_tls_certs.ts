// Test certificates, made with openssl at test time (a CA, a server certificate for
// localhost / 127.0.0.1 / ::1, a client certificate). Not a test file.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM text of the test PKI. */
export interface TestCerts {
  /** The CA certificate. */
  ca: string;
  /** The server certificate (localhost, 127.0.0.1, ::1) and its key. */
  cert: string;
  key: string;
  /** A client certificate signed by the same CA, and its key. */
  clientCert: string;
  clientKey: string;
  /** A second CA that signed nothing here: trusting only it fails verification. */
  otherCa: string;
}

function make(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "tcpkit-certs-"));
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    for (const ca of ["ca", "other"]) {
      ssl(
        "req",
        "-x509",
        ...ec,
        "-keyout",
        f(`${ca}.key`),
        "-out",
        f(`${ca}.pem`),
        "-days",
        "3650",
        "-subj",
        `/CN=tcpkit test ${ca}`,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      );
    }
    const leaf = (name: string, subject: string, ext: string) => {
      ssl("req", ...ec, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", subject);
      writeFileSync(f(`${name}.ext`), ext);
      ssl(
        "x509",
        "-req",
        "-in",
        f(`${name}.csr`),
        "-CA",
        f("ca.pem"),
        "-CAkey",
        f("ca.key"),
        "-CAcreateserial",
        "-out",
        f(`${name}.pem`),
        "-days",
        "3650",
        "-extfile",
        f(`${name}.ext`),
      );
    };
    leaf(
      "server",
      "/CN=localhost",
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\n" +
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    leaf(
      "client",
      "/CN=tcpkit test client",
      "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    );
    const read = (name: string) => readFileSync(f(name), "utf8");
    return {
      ca: read("ca.pem"),
      cert: read("server.pem"),
      key: read("server.key"),
      clientCert: read("client.pem"),
      clientKey: read("client.key"),
      otherCa: read("other.pem"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The certificates, made once per process. */
export const certs: TestCerts = make();
