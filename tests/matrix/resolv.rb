# resolv.rb NAME TYPE: Ruby's Resolv::DNS (its own connected UDP socket), two
# seconds, one try. Prints "answer TYPE DATA" per record and "rcode NOERROR",
# or "error TEXT" (Resolv reports no rcode: an empty answer is "rcode NOERROR"
# with no answer line).
require 'resolv'
name, type = ARGV
cls = { 'MX' => Resolv::DNS::Resource::IN::MX, 'A' => Resolv::DNS::Resource::IN::A,
        'AAAA' => Resolv::DNS::Resource::IN::AAAA }[type]
begin
  Resolv::DNS.open(nameserver: ['127.0.0.1']) do |dns|
    dns.timeouts = 2
    recs = dns.getresources(name, cls)
    puts 'rcode NOERROR'
    recs.each do |r|
      if type == 'MX'
        puts "answer MX #{r.preference} #{r.exchange}."
      else
        puts "answer #{type} #{r.address}"
      end
    end
  end
rescue StandardError => e
  puts "error #{e.class}: #{e.message}"
end
