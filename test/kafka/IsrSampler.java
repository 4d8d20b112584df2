// Prints a topic's partitions (leader, replicas, in-sync replicas) as one JSON
// line every interval, as Kafka's Admin client describes them, until killed:
// the real-Kafka tests' continuous view of the ISR during a roll (one JVM for
// the whole watch instead of one TopicCommand per sample). A failed describe
// is printed as {"at":...,"error":"..."}: a sample missed, never a pass.
//
//   java -cp <kafka classpath> IsrSampler.java BOOTSTRAP TOPIC INTERVAL_MS
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;

public class IsrSampler {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String topic = args[1];
    long intervalMs = Long.parseLong(args[2]);
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(AdminClientConfig.CLIENT_ID_CONFIG, "isr-sampler");
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "4000");
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "4000");
    p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "1000");
    try (Admin admin = Admin.create(p)) {
      while (true) {
        long started = System.currentTimeMillis();
        String line;
        try {
          TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
          StringBuilder sb = new StringBuilder();
          sb.append("{\"at\":").append(System.currentTimeMillis()).append(",\"partitions\":[");
          boolean first = true;
          for (TopicPartitionInfo info : d.partitions()) {
            if (!first) sb.append(',');
            first = false;
            sb.append("{\"partition\":").append(info.partition());
            sb.append(",\"leader\":").append(info.leader() == null ? -1 : info.leader().id());
            sb.append(",\"replicas\":").append(ids(info.replicas()));
            sb.append(",\"isr\":").append(ids(info.isr())).append('}');
          }
          line = sb.append("]}").toString();
        } catch (Exception e) {
          String why =
              String.valueOf(e.getMessage())
                  .replace("\\", "\\\\")
                  .replace("\"", "'")
                  .replaceAll("[\\r\\n\\t]", " ");
          line = "{\"at\":" + System.currentTimeMillis() + ",\"error\":\"" + why + "\"}";
        }
        System.out.println(line);
        System.out.flush();
        long left = intervalMs - (System.currentTimeMillis() - started);
        if (left > 0) Thread.sleep(left);
      }
    }
  }

  private static String ids(List<Node> nodes) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < nodes.size(); i++) {
      if (i > 0) sb.append(',');
      sb.append(nodes.get(i).id());
    }
    return sb.append(']').toString();
  }
}
