#!/usr/bin/perl
# A syslog receiver for the MTA tests: listens on each datagram socket path
# given, appends every message it receives as one line to LOGFILE, and writes
# its PID to PIDFILE once all sockets listen. Stands in for rsyslog, so the
# lines the MTAs and the library send to syslog (facility mail) can be read.
#
# usage: syslogd.pl LOGFILE PIDFILE SOCKET...
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SOCK_DGRAM);
use POSIX qw(setsid);

my ($logfile, $pidfile, @paths) = @ARGV;
die "usage: syslogd.pl LOGFILE PIDFILE SOCKET...\n" unless $logfile && $pidfile && @paths;
my $sel = IO::Select->new;
for my $path (@paths) {
	unlink $path;
	my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path)
	    or die "syslogd.pl: cannot listen on $path: $!\n";
	chmod 0666, $path;
	$sel->add($s);
}
open(my $log, '>>', $logfile) or die "syslogd.pl: $logfile: $!\n";
$log->autoflush(1);
defined(my $pid = fork) or die "syslogd.pl: fork: $!\n";
exit 0 if $pid;
setsid;
open(STDIN, '<', '/dev/null');
open(STDOUT, '>', '/dev/null');
open(STDERR, '>', '/dev/null');
$SIG{TERM} = sub { exit 0 };
if (open(my $pf, '>', "$pidfile.tmp")) {
	print $pf "$$\n";
	close $pf;
	rename "$pidfile.tmp", $pidfile;
}
while (1) {
	for my $s ($sel->can_read) {
		my $msg;
		defined $s->recv($msg, 65536) or next;
		$msg =~ s/\0+$//;
		$msg =~ s/\n+$//;
		$msg =~ s/\n/ /g;
		print $log "$msg\n";
	}
}
