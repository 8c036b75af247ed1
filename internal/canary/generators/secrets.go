package generators

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/decnet/decnet/internal/canary/artifact"
)

// sshKey writes an unencrypted OpenSSH ed25519 private key derived from
// the slug. The key comment names the token's DNS host, which an attacker
// is likely to try as an SSH target.
type sshKey struct{}

func (sshKey) Name() string { return "ssh_key" }
func (sshKey) Kinds() []artifact.Kind {
	return []artifact.Kind{artifact.KindDNS, artifact.KindPassive}
}

func (sshKey) Generate(tc artifact.Context) (artifact.Artifact, error) {
	priv := ed25519.NewKeyFromSeed(derive(tc, "ssh-ed25519"))
	comment := userName(tc) + "@" + tc.CallbackHost()
	check := binary.BigEndian.Uint32(derive(tc, "ssh-check"))

	a := artifact.Artifact{
		MIME:        "text/plain",
		Kind:        artifact.KindDNS,
		Content:     marshalOpenSSH(priv, comment, check),
		Mode:        0o600,
		MtimeOffset: -artifact.Days(60),
		Notes: artifact.Notes{
			What:    "unencrypted OpenSSH ed25519 private key with comment " + comment,
			Trips:   "a DNS lookup of the host in the key comment, typically by ssh -i <key> " + comment,
			Clients: []string{"OpenSSH ssh and scp", "PuTTY", "any resolver used to look the host up"},
			Details: []string{"public key ssh-ed25519 " + base64.StdEncoding.EncodeToString(sshPublicBlob(priv.Public().(ed25519.PublicKey)))},
		},
	}
	if tc.DNSHost() == "" {
		a.Kind = artifact.KindPassive
		a.Notes.Trips = "nothing calls back: without a DNS zone the comment names the HTTP callback host, which only receives HTTP"
	}
	return a, nil
}

func sshString(b []byte, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func sshPublicBlob(pub ed25519.PublicKey) []byte {
	b := sshString(nil, []byte("ssh-ed25519"))
	return sshString(b, pub)
}

// marshalOpenSSH encodes key in the openssh-key-v1 format (PROTOCOL.key in
// the OpenSSH sources) with cipher and KDF "none". check is the random
// check integer, fixed here so the output is deterministic.
func marshalOpenSSH(key ed25519.PrivateKey, comment string, check uint32) []byte {
	pub := key.Public().(ed25519.PublicKey)

	var private []byte
	private = binary.BigEndian.AppendUint32(private, check)
	private = binary.BigEndian.AppendUint32(private, check)
	private = sshString(private, []byte("ssh-ed25519"))
	private = sshString(private, pub)
	private = sshString(private, key)
	private = sshString(private, []byte(comment))
	for i := byte(1); len(private)%8 != 0; i++ {
		private = append(private, i)
	}

	blob := []byte("openssh-key-v1\x00")
	blob = sshString(blob, []byte("none"))
	blob = sshString(blob, []byte("none"))
	blob = sshString(blob, nil)
	blob = binary.BigEndian.AppendUint32(blob, 1)
	blob = sshString(blob, sshPublicBlob(pub))
	blob = sshString(blob, private)

	enc := base64.StdEncoding.EncodeToString(blob)
	var b strings.Builder
	b.WriteString("-----BEGIN OPENSSH PRIVATE KEY-----\n")
	for len(enc) > 70 {
		b.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	b.WriteString(enc + "\n-----END OPENSSH PRIVATE KEY-----\n")
	return []byte(b.String())
}

// mysqlDump writes a mysqldump file whose header, user table, view
// DEFINER and replication settings name the token's DNS host.
type mysqlDump struct{}

func (mysqlDump) Name() string           { return "mysql_dump" }
func (mysqlDump) Kinds() []artifact.Kind { return []artifact.Kind{artifact.KindDNS} }

// bcryptAlphabet is the base64 alphabet bcrypt hashes use.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// fakeBcrypt returns a 60-character string shaped like a bcrypt hash.
func fakeBcrypt(tc artifact.Context, label string) string {
	seed := append(derive(tc, "bcrypt/"+label), derive(tc, "bcrypt2/"+label)...)
	out := []byte("$2y$10$")
	for i := 0; len(out) < 60; i++ {
		out = append(out, bcryptAlphabet[int(seed[i])%64])
	}
	return string(out)
}

func (mysqlDump) Generate(tc artifact.Context) (artifact.Artifact, error) {
	if err := dnsRequired("mysql_dump", tc); err != nil {
		return artifact.Artifact{}, err
	}
	host := tc.DNSHost()
	r := newReport(tc)
	domain := strings.ToLower(strings.Fields(r.Company)[0]) + ".com"
	dumped := stamp(tc, "dump-date")
	replPassword := hex.EncodeToString(derive(tc, "repl-pw"))[:20]

	users := []struct{ email, role string }{
		{"admin@" + domain, "admin"},
		{strings.ToLower(strings.ReplaceAll(r.Author, " ", ".")) + "@" + domain, "admin"},
		{strings.ToLower(strings.ReplaceAll(r.Editor, " ", ".")) + "@" + domain, "user"},
		{"replication@" + host, "service"},
	}
	var rows []string
	for i, u := range users {
		created := dumped.AddDate(0, 0, -400+i*37).Format("2006-01-02 15:04:05")
		rows = append(rows, fmt.Sprintf("(%d,'%s','%s','%s','%s')", i+1, u.email, fakeBcrypt(tc, u.email), u.role, created))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n--\n-- Host: %s    Database: app_production\n", host)
	b.WriteString("-- ------------------------------------------------------\n-- Server version\t8.0.36\n\n")
	b.WriteString(mysqlPreamble)
	b.WriteString(`
--
-- Table structure for table ` + "`users`" + `
--

DROP TABLE IF EXISTS ` + "`users`" + `;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE ` + "`users`" + ` (
  ` + "`id`" + ` int unsigned NOT NULL AUTO_INCREMENT,
  ` + "`email`" + ` varchar(255) NOT NULL,
  ` + "`password_hash`" + ` char(60) NOT NULL,
  ` + "`role`" + ` varchar(32) NOT NULL DEFAULT 'user',
  ` + "`created_at`" + ` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (` + "`id`" + `),
  UNIQUE KEY ` + "`users_email_uq`" + ` (` + "`email`" + `)
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table ` + "`users`" + `
--

LOCK TABLES ` + "`users`" + ` WRITE;
/*!40000 ALTER TABLE ` + "`users`" + ` DISABLE KEYS */;
`)
	fmt.Fprintf(&b, "INSERT INTO `users` VALUES %s;\n", strings.Join(rows, ","))
	b.WriteString("/*!40000 ALTER TABLE `users` ENABLE KEYS */;\nUNLOCK TABLES;\n")
	b.WriteString(`
--
-- Table structure for table ` + "`replication_sources`" + `
--

DROP TABLE IF EXISTS ` + "`replication_sources`" + `;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE ` + "`replication_sources`" + ` (
  ` + "`id`" + ` int unsigned NOT NULL AUTO_INCREMENT,
  ` + "`name`" + ` varchar(64) NOT NULL,
  ` + "`dsn`" + ` varchar(255) NOT NULL,
  PRIMARY KEY (` + "`id`" + `)
) ENGINE=InnoDB AUTO_INCREMENT=2 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

LOCK TABLES ` + "`replication_sources`" + ` WRITE;
`)
	fmt.Fprintf(&b, "INSERT INTO `replication_sources` VALUES (1,'primary','mysql://replication:%s@%s:3306/app_production');\n", replPassword, host)
	b.WriteString("UNLOCK TABLES;\n")
	b.WriteString(`
--
-- Final view structure for view ` + "`active_admins`" + `
--

/*!50001 DROP VIEW IF EXISTS ` + "`active_admins`" + `*/;
/*!50001 SET @saved_cs_client          = @@character_set_client */;
/*!50001 SET @saved_cs_results         = @@character_set_results */;
/*!50001 SET @saved_col_connection     = @@collation_connection */;
/*!50001 SET character_set_client      = utf8mb4 */;
/*!50001 SET character_set_results     = utf8mb4 */;
/*!50001 SET collation_connection      = utf8mb4_0900_ai_ci */;
/*!50001 CREATE ALGORITHM=UNDEFINED */
`)
	fmt.Fprintf(&b, "/*!50013 DEFINER=`replication`@`%s` SQL SECURITY DEFINER */\n", host)
	b.WriteString("/*!50001 VIEW `active_admins` AS select `users`.`id` AS `id`,`users`.`email` AS `email` from `users` where (`users`.`role` = 'admin') */;\n")
	b.WriteString("/*!50001 SET character_set_client      = @saved_cs_client */;\n/*!50001 SET character_set_results     = @saved_cs_results */;\n/*!50001 SET collation_connection      = @saved_col_connection */;\n")
	b.WriteString(mysqlEpilogue)
	fmt.Fprintf(&b, "\n-- Dump completed on %s\n", dumped.Format("2006-01-02 15:04:05"))

	return artifact.Artifact{
		MIME:        "application/sql",
		Kind:        artifact.KindDNS,
		Content:     []byte(b.String()),
		Mode:        0o600,
		MtimeOffset: -artifact.Days(7),
		Notes: artifact.Notes{
			What:    "mysqldump of app_production with users, replication DSN and a view whose DEFINER names " + host,
			Trips:   "a DNS lookup of " + host + ", for example mysql -h " + host + " with the replication credentials from the dump",
			Clients: []string{"mysql and mariadb clients", "database GUIs", "any tool that connects to the DSN"},
			Details: []string{"host=" + host},
		},
	}, nil
}

const mysqlPreamble = `/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
`

const mysqlEpilogue = `/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;
`
