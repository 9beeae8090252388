// Connects the way the Pulumi command provider does (golang.org/x/crypto/ssh with its default
// algorithms, a private key, any host key), runs one command and prints the host key type.
package main

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go-ssh-client ADDRESS KEYFILE")
		os.Exit(2)
	}
	pem, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		fail(err)
	}
	var hostKeyType string
	client, err := ssh.Dial("tcp", os.Args[1], &ssh.ClientConfig{
		User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			hostKeyType = key.Type()
			return nil
		},
	})
	if err != nil {
		fail(err)
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		fail(err)
	}
	out, err := session.Output("echo connected")
	if err != nil {
		fail(err)
	}
	fmt.Printf("%s, host key %s\n", string(out[:len(out)-1]), hostKeyType)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
