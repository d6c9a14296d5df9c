// A multithreaded C++ program: std::map, std::string, std::vector, std::thread, exceptions.
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

int main() {
    std::mutex mu;
    std::map<std::string, std::vector<int>> shared;
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++) {
        ts.emplace_back([t, &mu, &shared] {
            std::map<int, std::string> local;
            for (int i = 0; i < 50000; i++) {
                local[i % 3000] = std::to_string(i * (t + 1)) + std::string(i % 50, 'x');
                if (i % 100 == 0) {
                    std::lock_guard<std::mutex> g(mu);
                    shared["k" + std::to_string(i % 997)].push_back(i + t);
                }
                if (i % 5000 == 0) {
                    try {
                        throw std::runtime_error("exception " + std::to_string(i));
                    } catch (const std::exception &e) {
                        local[-1] = e.what();
                    }
                }
                auto p = std::make_shared<std::string>(local[i % 3000]);
                if (p->empty()) return;
            }
        });
    }
    for (auto &t : ts) t.join();
    unsigned long sum = 0, n = 0;
    for (auto &kv : shared) {
        n += kv.second.size();
        for (int v : kv.second) sum += v;
    }
    std::printf("keys %zu values %lu sum %lu\n", shared.size(), n, sum);
    return 0;
}
