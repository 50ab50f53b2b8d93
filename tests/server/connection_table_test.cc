// Who gets a connection at the cap: the longest idle makes room, a client
// address keeps to its share, and a reserve takes health checks when every
// connection is busy.
#include "tbms/server/connection_table.h"

#include <gtest/gtest.h>

#include <vector>

namespace tbms {
namespace {

struct FakeSession : ConnectionTable::Entry {
  void CloseIfIdle() override { ++closes; }
  int closes = 0;
};

class ConnectionTableTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeSession> Session(int64_t idle_since) {
    auto s = std::make_shared<FakeSession>();
    s->SetIdleSince(idle_since);
    sessions_.push_back(s);
    return s;
  }
  std::vector<std::shared_ptr<FakeSession>> sessions_;
};

TEST_F(ConnectionTableTest, AtTheCapTheLongestIdleMakesRoom) {
  ConnectionTable table({.max_open = 3, .max_per_client = 10, .health_reserve = 1});
  auto busy = Session(0), idle_late = Session(200), idle_early = Session(100);
  for (const auto& s : {busy, idle_late, idle_early}) ASSERT_TRUE(table.Open("10.0.0.1", s));
  auto newcomer = Session(0);
  ASSERT_TRUE(table.Open("10.0.0.2", newcomer));
  EXPECT_EQ(idle_early->closes, 1);
  EXPECT_EQ(idle_late->closes, 0);
  EXPECT_EQ(busy->closes, 0);
  ASSERT_TRUE(table.Open("10.0.0.2", Session(0)));  // the next one: not the same victim twice
  EXPECT_EQ(idle_early->closes, 1);
  EXPECT_EQ(idle_late->closes, 1);
}

TEST_F(ConnectionTableTest, WhenAllAreBusyTheReserveTakesHealthChecksOnly) {
  ConnectionTable table({.max_open = 2, .max_per_client = 10, .health_reserve = 1});
  ASSERT_TRUE(table.Open("a", Session(0)));
  ASSERT_TRUE(table.Open("a", Session(0)));
  std::optional<ConnectionTable::Slot> health = table.Open("b", Session(0));
  ASSERT_TRUE(health);
  EXPECT_TRUE(health->health_only);
  EXPECT_FALSE(table.Open("b", Session(0)));  // the reserve is full too
  EXPECT_EQ(table.open(), 3u);
  table.Close(*health);
  EXPECT_EQ(table.open(), 2u);
  EXPECT_TRUE(table.Open("b", Session(0)));
}

// A connection whose body is under way (an upload) makes room only after
// every connection waiting for a request, however long it has been going.
TEST_F(ConnectionTableTest, AnUploadUnderWayGoesAfterEveryWaitingConnection) {
  ConnectionTable table({.max_open = 2, .max_per_client = 10, .health_reserve = 1});
  auto upload = Session(0), waiting = Session(500);
  upload->SetMidRequestSince(100);  // under way since before the other began to wait
  ASSERT_TRUE(table.Open("a", upload));
  ASSERT_TRUE(table.Open("a", waiting));
  ASSERT_TRUE(table.Open("b", Session(0)));
  EXPECT_EQ(waiting->closes, 1);
  EXPECT_EQ(upload->closes, 0);
  ASSERT_TRUE(table.Open("b", Session(0)));  // nothing else idle: now the upload
  EXPECT_EQ(upload->closes, 1);
}

// A reserve connection idles too, but a newcomer cannot take its place: it
// would be admitted to serve, past max_open, for good.
TEST_F(ConnectionTableTest, AnIdleHealthCheckIsNotEvictedForANewcomer) {
  ConnectionTable table({.max_open = 1, .max_per_client = 10, .health_reserve = 1});
  ASSERT_TRUE(table.Open("a", Session(0)));
  auto probe = Session(100);
  std::optional<ConnectionTable::Slot> health = table.Open("b", probe);
  ASSERT_TRUE(health && health->health_only);
  EXPECT_FALSE(table.Open("c", Session(0)));
  EXPECT_EQ(probe->closes, 0);
  EXPECT_EQ(table.open(), 2u);
}

// One IPv6 host holds a /64: its addresses are one client, or the share
// would not hold.
TEST(ConnectionTableClientTest, AnIpv6ClientIsItsSlash64) {
  EXPECT_EQ(ConnectionTable::ClientOf("10.0.0.7"), "10.0.0.7");
  EXPECT_EQ(ConnectionTable::ClientOf("::ffff:10.0.0.7"), "10.0.0.7");
  EXPECT_EQ(ConnectionTable::ClientOf("2001:db8:0:1::5"), "2001:db8:0:1::/64");
  EXPECT_EQ(ConnectionTable::ClientOf("2001:db8:0:1:ffff:1:2:3"), "2001:db8:0:1::/64");
  EXPECT_NE(ConnectionTable::ClientOf("2001:db8:0:2::5"), ConnectionTable::ClientOf("2001:db8:0:1::5"));
  EXPECT_EQ(ConnectionTable::ClientOf("::1"), "::/64");
  EXPECT_EQ(ConnectionTable::ClientOf(""), "");
}

TEST_F(ConnectionTableTest, OneClientKeepsToItsShare) {
  ConnectionTable table({.max_open = 10, .max_per_client = 2, .health_reserve = 1});
  std::optional<ConnectionTable::Slot> first = table.Open("a", Session(0));
  ASSERT_TRUE(first);
  ASSERT_TRUE(table.Open("a", Session(0)));
  EXPECT_FALSE(table.Open("a", Session(0)));
  EXPECT_TRUE(table.Open("b", Session(0)));
  table.Close(*first);
  EXPECT_TRUE(table.Open("a", Session(0)));
}

}  // namespace
}  // namespace tbms
