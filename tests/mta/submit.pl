#!/usr/bin/perl
# Submits test messages to an MTA over SMTP, as a mail client would.
#
# usage: submit.pl HOST:PORT PER_CONNECTION < LIST
# LIST has one message a line: "RCPT SUBJECT". Each message goes from
# sender@bounces.example (so a bounce would land at the bounces sink) to RCPT,
# with SUBJECT as its subject; a new SMTP session starts every PER_CONNECTION
# messages. Prints "submitted N"; exits 1 at the first refused command.
use strict;
use warnings;
use Net::SMTP;

my ($server, $per) = @ARGV;
die "usage: submit.pl HOST:PORT PER_CONNECTION < LIST\n" unless $server && $per;
my ($host, $port) = split /:/, $server;
my ($smtp, $n, $in_session) = (undef, 0, 0);

sub fail { my ($what) = @_; print STDERR "submit.pl: $what: ", ($smtp ? $smtp->message : $@ // ''), "\n"; exit 1 }

while (my $line = <STDIN>) {
	chomp $line;
	next unless $line =~ /\S/;
	my ($rcpt, $subject) = split ' ', $line, 2;
	if (!$smtp) {
		$smtp = Net::SMTP->new($host, Port => $port, Hello => 'client.test.example', Timeout => 60)
		    or fail("cannot connect to $server");
	}
	$smtp->mail('sender@bounces.example') or fail("MAIL FROM for $subject");
	$smtp->to($rcpt) or fail("RCPT TO:<$rcpt>");
	$smtp->data or fail("DATA for $subject");
	$smtp->datasend("From: sender\@bounces.example\nTo: $rcpt\nSubject: $subject\n"
	    . "Message-ID: <$subject.$$\@client.test.example>\n\nonionmx MTA test: $subject\n");
	$smtp->dataend or fail("end of DATA for $subject");
	$n++;
	if (++$in_session >= $per) {
		$smtp->quit;
		($smtp, $in_session) = (undef, 0);
	}
}
$smtp->quit if $smtp;
print "submitted $n\n";
